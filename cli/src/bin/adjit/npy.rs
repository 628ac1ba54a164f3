//! Reading and writing `.npy` files (through the `npyz` crate).
//!
//! Reading never trusts the header: the element count is computed with checked
//! arithmetic and compared with the bytes actually present before anything is
//! allocated, so a malformed file is an error, not an abort.

use crate::error::CliError;
use adjit::ir::{Data, Elem, Tensor};
use npyz::{DType, TypeChar, WriterBuilder};
use std::path::Path;

/// Reads an `.npy` file as a tensor of element type `want`, converting from
/// the file's type when that loses nothing (e.g. `f4` or integers into `f64`).
pub fn read(path: &Path, want: Elem) -> Result<Tensor, CliError> {
    let bad = |msg: String| CliError::Input(format!("{}: {msg}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
    let DType::Plain(ts) = npy.dtype() else {
        return Err(bad("structured .npy arrays are not supported".into()));
    };
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad("shape too large".into())))
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} has too many elements")))?;
    let item = ts.num_bytes().unwrap_or(0);
    let needed = count
        .checked_mul(item)
        .ok_or_else(|| bad("size overflows".into()))?;
    if needed > bytes.len() {
        return Err(bad(format!(
            "the header declares {count} elements ({needed} bytes) but the file has {} bytes",
            bytes.len()
        )));
    }
    let fortran = npy.order() == npyz::Order::Fortran;
    let (tc, size) = (ts.type_char(), ts.size_field());
    let io = |e: std::io::Error| bad(format!("cannot read data: {e}"));
    let ints = |npy: npyz::NpyFile<&[u8]>| -> Result<Vec<i64>, CliError> {
        Ok(match (tc, size) {
            (TypeChar::Int, 1) => npy
                .into_vec::<i8>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
            (TypeChar::Int, 2) => npy
                .into_vec::<i16>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
            (TypeChar::Int, 4) => npy
                .into_vec::<i32>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
            (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(io)?,
            (TypeChar::Uint, 1) => npy
                .into_vec::<u8>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
            (TypeChar::Uint, 2) => npy
                .into_vec::<u16>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
            (TypeChar::Uint, 4) => npy
                .into_vec::<u32>()
                .map_err(io)?
                .into_iter()
                .map(i64::from)
                .collect(),
            _ => {
                return Err(bad(format!(
                    "holds {ts} elements, which cannot be read as {want} without loss"
                )));
            }
        })
    };
    // Integers up to 2^53 are exact in f64; wider ones are refused.
    const EXACT: i64 = 1 << 53;
    let data = match (want, tc, size) {
        (Elem::F64, TypeChar::Float, 8) => Data::F64(npy.into_vec::<f64>().map_err(io)?),
        (Elem::F64, TypeChar::Float, 4) => Data::F64(
            npy.into_vec::<f32>()
                .map_err(io)?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        (Elem::F64, TypeChar::Int | TypeChar::Uint, _) => {
            let v = ints(npy)?;
            if v.iter().any(|x| x.abs() > EXACT) {
                return Err(bad(format!(
                    "holds integers too large to read as {want} exactly"
                )));
            }
            Data::F64(v.into_iter().map(|x| x as f64).collect())
        }
        (Elem::F32, TypeChar::Float, 4) => Data::F32(npy.into_vec::<f32>().map_err(io)?),
        (Elem::I64, TypeChar::Int | TypeChar::Uint, _) => Data::I64(ints(npy)?),
        (Elem::Bool, TypeChar::Bool, _) => Data::Bool(npy.into_vec::<bool>().map_err(io)?),
        _ => {
            return Err(bad(format!(
                "holds {ts} elements, which cannot be read as {want} without loss"
            )));
        }
    };
    let data = if fortran {
        fortran_to_c(data, &shape)
    } else {
        data
    };
    Tensor::new(shape, data).map_err(|e| bad(e.to_string()))
}

/// Reorders column-major data into row-major.
fn fortran_to_c(data: Data, shape: &[usize]) -> Data {
    fn reorder<T: Copy>(v: Vec<T>, shape: &[usize]) -> Vec<T> {
        let n = v.len();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..n {
            // Column-major offset of the row-major multi-index `idx`.
            let (mut off, mut stride) = (0, 1);
            for (i, &d) in idx.iter().zip(shape) {
                off += i * stride;
                stride *= d;
            }
            out.push(v[off]);
            for a in (0..shape.len()).rev() {
                idx[a] += 1;
                if idx[a] < shape[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
        out
    }
    match data {
        Data::F64(v) => Data::F64(reorder(v, shape)),
        Data::F32(v) => Data::F32(reorder(v, shape)),
        Data::I64(v) => Data::I64(reorder(v, shape)),
        Data::Bool(v) => Data::Bool(reorder(v, shape)),
    }
}

/// Writes a tensor as a C-order `.npy` file.
pub fn write(path: &Path, t: &Tensor) -> Result<(), CliError> {
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let file = std::fs::File::create(path)
        .map_err(|e| CliError::Output(format!("{}: {e}", path.display())))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e: std::io::Error| CliError::Output(format!("{}: {e}", path.display()));
    macro_rules! put {
        ($v:expr, $t:ty) => {{
            let mut writer = npyz::WriteOptions::<$t>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut w)
                .begin_nd()
                .map_err(io)?;
            writer.extend($v.iter().copied()).map_err(io)?;
            writer.finish().map_err(io)?;
        }};
    }
    match t.data() {
        Data::F64(v) => put!(v, f64),
        Data::F32(v) => put!(v, f32),
        Data::I64(v) => put!(v, i64),
        Data::Bool(v) => put!(v, bool),
    }
    Ok(())
}

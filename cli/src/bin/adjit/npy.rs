//! Reading and writing `.npy` files (through the `npyz` crate).
//!
//! Reading never trusts the header. The file's size is checked against the
//! [`Limits`] before it is read; the header is at most [`MAX_HEADER`] bytes
//! and must be what NumPy accepts — a dict literal with exactly the keys
//! `descr`, `fortran_order` and `shape`, a string, `True`/`False` and a
//! tuple of non-negative integers (no lists, no arithmetic, no other keys);
//! the element count is computed with checked arithmetic and compared with
//! the bytes actually present before anything is allocated. A malformed
//! file is an error, not an abort.

use crate::error::CliError;
use adjit::ir::{Data, Elem, Limits, Tensor};
use npyz::{DType, TypeChar, WriterBuilder};
use std::path::Path;

/// Reads an `.npy` file as a tensor of element type `want`, converting from
/// the file's type when that loses nothing (e.g. `f4` or integers into `f64`).
pub fn read(path: &Path, want: Elem, limits: &Limits) -> Result<Tensor, CliError> {
    let bad = |msg: String| CliError::Input(format!("{}: {msg}", path.display()));
    let len = std::fs::metadata(path)
        .map_err(|e| bad(e.to_string()))?
        .len();
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    limits
        .check_bytes("the file", len.saturating_sub(MAX_HEADER + 12))
        .map_err(bad)?;
    crate::limits::probe(len).map_err(|()| bad(format!("{len} bytes cannot be allocated")))?;
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let header = check_header(&bytes).map_err(|e| bad(format!("not a valid .npy file: {e}")))?;
    limits
        .check_shape("the array", &header.shape, 1)
        .map_err(bad)?;
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
    let data_bytes = bytes.len().saturating_sub(header.data_offset);
    if needed > data_bytes {
        return Err(bad(format!(
            "the header declares {count} elements ({needed} bytes) but the file has {data_bytes} bytes of data"
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

/// The most bytes of header read (NumPy's own limit).
pub const MAX_HEADER: usize = 10_000;

/// What [`check_header`] found.
struct Header {
    /// The array's shape.
    shape: Vec<usize>,
    /// Where the data starts.
    data_offset: usize,
}

/// Checks the magic, the version and the header dict the way NumPy does
/// (`numpy.lib.format`): bounded length, a dict literal with exactly the
/// keys `descr` (a string), `fortran_order` (`True`/`False`) and `shape` (a
/// tuple of non-negative integers).
fn check_header(bytes: &[u8]) -> Result<Header, String> {
    let magic = b"\x93NUMPY";
    if bytes.len() < 10 || &bytes[..6] != magic {
        return Err("no .npy magic string".into());
    }
    let (len, start) = match (bytes[6], bytes[7]) {
        (1, 0) => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        (2 | 3, 0) => {
            let b = bytes.get(8..12).ok_or("the header length is cut off")?;
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(len).unwrap_or(usize::MAX), 12)
        }
        (major, minor) => return Err(format!("unknown format version {major}.{minor}")),
    };
    if len > MAX_HEADER {
        return Err(format!(
            "the header declares {len} bytes, more than {MAX_HEADER}"
        ));
    }
    let end = start + len;
    let text = bytes.get(start..end).ok_or("the header is cut off")?;
    let text = std::str::from_utf8(text).map_err(|_| "the header is not text")?;
    let shape = parse_dict(text)?;
    Ok(Header {
        shape,
        data_offset: end,
    })
}

/// A token of a header dict.
#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Punct(char),
    Str(&'a str),
    Word(&'a str),
}

fn tokens(text: &str) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if "{}():,".contains(c) {
            out.push(Tok::Punct(c));
            rest = &rest[1..];
        } else if c == '\'' || c == '"' {
            let close = rest[1..]
                .find(c)
                .ok_or("an unterminated string in the header")?;
            out.push(Tok::Str(&rest[1..1 + close]));
            rest = &rest[close + 2..];
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let end = rest
                .find(|x: char| !(x.is_ascii_alphanumeric() || x == '_'))
                .unwrap_or(rest.len());
            out.push(Tok::Word(&rest[..end]));
            rest = &rest[end..];
        } else {
            return Err(format!(
                "`{c}` in the header is not a literal NumPy accepts"
            ));
        }
    }
    Ok(out)
}

/// Parses the header dict; returns the shape.
fn parse_dict(text: &str) -> Result<Vec<usize>, String> {
    let toks = tokens(text)?;
    let mut i = 0;
    let mut next = || {
        let t = toks.get(i);
        i += 1;
        t
    };
    let unexpected = |t: Option<&Tok>| format!("unexpected {t:?} in the header");
    if next() != Some(&Tok::Punct('{')) {
        return Err("the header is not a dict".into());
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        let key = match next() {
            Some(Tok::Punct('}')) => break,
            Some(Tok::Str(k)) => *k,
            t => return Err(unexpected(t)),
        };
        if next() != Some(&Tok::Punct(':')) {
            return Err("a `:` is missing in the header".into());
        }
        match key {
            "descr" if descr.is_none() => match next() {
                Some(Tok::Str(d)) => descr = Some(*d),
                _ => {
                    return Err(
                        "`descr` is not a string (structured arrays are not supported)".into(),
                    );
                }
            },
            "fortran_order" if fortran.is_none() => match next() {
                Some(Tok::Word("True")) => fortran = Some(true),
                Some(Tok::Word("False")) => fortran = Some(false),
                _ => return Err("`fortran_order` is not True or False".into()),
            },
            "shape" if shape.is_none() => {
                if next() != Some(&Tok::Punct('(')) {
                    return Err("`shape` is not a tuple".into());
                }
                let mut dims = Vec::new();
                let mut comma = false;
                loop {
                    match next() {
                        Some(Tok::Punct(')')) => break,
                        Some(Tok::Word(w)) if w.bytes().all(|b| b.is_ascii_digit()) => {
                            dims.push(
                                w.parse::<usize>()
                                    .map_err(|_| format!("the dimension {w} is too large"))?,
                            );
                            match next() {
                                Some(Tok::Punct(',')) => comma = true,
                                Some(Tok::Punct(')')) => {
                                    comma = false;
                                    break;
                                }
                                t => return Err(unexpected(t)),
                            }
                        }
                        t => {
                            return Err(format!("`shape` holds {t:?}, not a non-negative integer"));
                        }
                    }
                }
                if dims.len() == 1 && !comma {
                    return Err(
                        "`shape` is not a tuple (one dimension needs a trailing comma)".into(),
                    );
                }
                shape = Some(dims);
            }
            "descr" | "fortran_order" | "shape" => {
                return Err(format!("the key `{key}` is repeated"));
            }
            _ => {
                return Err(format!(
                    "the header has the key `{key}`, which NumPy rejects"
                ));
            }
        }
        match next() {
            Some(Tok::Punct(',')) => {}
            Some(Tok::Punct('}')) => break,
            t => return Err(unexpected(t)),
        }
    }
    if i != toks.len() {
        return Err("text after the header dict".into());
    }
    match (descr, fortran, shape) {
        (Some(_), Some(_), Some(shape)) => Ok(shape),
        _ => Err("the header lacks one of `descr`, `fortran_order`, `shape`".into()),
    }
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

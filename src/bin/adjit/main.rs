//! The `adjit` command-line tool.

fn main() {
    println!("adjit");
}

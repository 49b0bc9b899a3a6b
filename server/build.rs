//! `sqlx::migrate!` embeds the migrations when this crate is compiled, and
//! Cargo does not see a new or changed migration file on its own: without
//! this, a migration added with no Rust change would be missing from the
//! binary.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

//! wisp's three benchmark workloads, as one pure library that every front-end
//! (the `wasi:http` component, the CLI, the native HTTP server) links, so the
//! same source runs natively and as WebAssembly with byte-identical outputs.
//!
//! - [`plate`]: a license-plate-reader-style pass: grayscale, blur, Otsu
//!   threshold, connected components, character-sized boxes → JSON
//! - [`classify`]: a small convolutional network (weights trained by
//!   `train/train.py`, embedded) on a 28x28 digit → JSON with the class
//!   and the softmax scores
//! - [`resize`]: PNG decode, Lanczos-3 resize to a 160-pixel thumbnail, PNG
//!   encode → PNG bytes
//!
//! Everything is deterministic: integer arithmetic where it can be, and
//! floating point limited to `+ - * /`, comparisons and exact operations
//! (floor, ceil, min/max), which IEEE 754 defines bit for bit on x86_64 and
//! WebAssembly alike. No libm approximation is used: the softmax's
//! exponential and the Lanczos kernel's sine are implemented here, and no sum
//! is reassociated (the compiler vectorizes only across independent outputs).
//!
//! An empty input selects the workload's embedded sample, so a bare GET runs it.

pub mod classify;
pub mod image;
pub mod plate;
pub mod resize;

/// The workloads' names, as routed by the front-ends.
pub const WORKLOADS: [&str; 3] = ["plate", "classify", "resize"];

/// The default input of `plate`: a 200x60 plate-like RGB image.
pub static PLATE_SAMPLE: &[u8] = include_bytes!("../data/plate.png");
/// The default input of `classify`: a 28x28 digit (a 7).
pub static DIGIT_SAMPLE: &[u8] = include_bytes!("../data/digit-7.png");
/// The default input of `resize`: a 256x256 photo-like RGB image.
pub static PHOTO_SAMPLE: &[u8] = include_bytes!("../data/photo.png");

/// The embedded sample a workload uses for an empty input.
pub fn default_input(name: &str) -> Option<&'static [u8]> {
    match name {
        "plate" => Some(PLATE_SAMPLE),
        "classify" => Some(DIGIT_SAMPLE),
        "resize" => Some(PHOTO_SAMPLE),
        _ => None,
    }
}

fn or_default<'a>(name: &str, input: &'a [u8]) -> &'a [u8] {
    if input.is_empty() {
        default_input(name).unwrap_or_default()
    } else {
        input
    }
}

/// Runs the plate pass on a PNG (empty: the embedded sample); JSON out.
pub fn plate(input: &[u8]) -> Result<Vec<u8>, String> {
    let img = image::decode_png(or_default("plate", input))?;
    Ok(plate::analyze(&img.to_gray()).to_json().into_bytes())
}

/// Classifies a PNG digit (empty: the embedded sample); JSON out.
pub fn classify(input: &[u8]) -> Result<Vec<u8>, String> {
    let img = image::decode_png(or_default("classify", input))?;
    Ok(classify::classify_image(&img).to_json().into_bytes())
}

/// Resizes a PNG to a thumbnail (empty: the embedded sample); PNG out.
pub fn resize(input: &[u8]) -> Result<Vec<u8>, String> {
    let img = image::decode_png(or_default("resize", input))?;
    let thumb = resize::thumbnail(&img, resize::THUMB_SIDE);
    image::encode_png(&thumb)
}

/// Runs workload `name` on `input`: `(content type, output)`, or an error
/// message for an unknown name or an undecodable input.
pub fn run(name: &str, input: &[u8]) -> Result<(&'static str, Vec<u8>), String> {
    match name {
        "plate" => plate(input).map(|out| ("application/json", out)),
        "classify" => classify(input).map(|out| ("application/json", out)),
        "resize" => resize(input).map(|out| ("image/png", out)),
        _ => Err(format!(
            "unknown workload {name:?} (expected one of: {})",
            WORKLOADS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_runs_on_empty_input() {
        for name in WORKLOADS {
            let (ct, out) = run(name, b"").unwrap();
            assert!(!out.is_empty(), "{name}");
            assert_eq!(run(name, default_input(name).unwrap()).unwrap(), (ct, out));
        }
    }

    #[test]
    fn unknown_workload_and_bad_input_are_errors() {
        assert!(run("nope", b"").is_err());
        assert!(run("plate", b"garbage").is_err());
    }
}

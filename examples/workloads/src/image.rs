//! An 8-bit interleaved image, PNG decoding and encoding, grayscale conversion.

use std::io::Cursor;

/// Largest width or height accepted from an input image.
pub const MAX_SIDE: usize = 8192;

/// 8 bits per sample, `channels` samples per pixel (1 gray, 2 gray+alpha,
/// 3 RGB, 4 RGBA), rows top to bottom without padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Image {
    /// A new image filled with zeros.
    pub fn new(width: usize, height: usize, channels: usize) -> Image {
        Image {
            width,
            height,
            channels,
            data: vec![0; width * height * channels],
        }
    }

    /// Wraps pixel data; its length must be `width * height * channels`.
    pub fn from_data(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Image {
        assert_eq!(data.len(), width * height * channels, "pixel data length");
        Image {
            width,
            height,
            channels,
            data,
        }
    }

    /// Bytes in one row.
    pub fn stride(&self) -> usize {
        self.width * self.channels
    }

    /// One-channel luma: gray as is, RGB by the integer weights
    /// (77 R + 150 G + 29 B + 128) / 256; alpha is dropped.
    pub fn to_gray(&self) -> Image {
        fn luma<const C: usize>(data: &[u8], out: &mut [u8]) {
            for (o, p) in out.iter_mut().zip(data.chunks_exact(C)) {
                // at most 256 * 255 + 128: 16-bit lanes suffice
                let y = 77 * u16::from(p[0]) + 150 * u16::from(p[1]) + 29 * u16::from(p[2]) + 128;
                *o = (y >> 8) as u8;
            }
        }
        let mut out = vec![0u8; self.width * self.height];
        match self.channels {
            1 => out.copy_from_slice(&self.data),
            2 => {
                for (o, p) in out.iter_mut().zip(self.data.chunks_exact(2)) {
                    *o = p[0];
                }
            }
            3 => luma::<3>(&self.data, &mut out),
            4 => luma::<4>(&self.data, &mut out),
            c => panic!("to_gray: {c} channels"),
        }
        Image::from_data(self.width, self.height, 1, out)
    }
}

/// Decodes a PNG of any color type and bit depth into 8-bit samples
/// (palettes expanded, 16-bit reduced to its high byte, 1/2/4-bit gray
/// widened). Checksums are not verified.
pub fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: 256 << 20 });
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    // Chunk CRCs are not verified (the png crate already skips zlib's
    // Adler-32 by default): a damaged stream still fails to inflate, and the
    // CRC would be the one step where native code uses a carry-less multiply
    // instruction WebAssembly lacks.
    decoder.ignore_checksums(true);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a PNG image: {e}"))?;
    {
        let info = reader.info();
        let (w, h) = (info.width as usize, info.height as usize);
        if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
            return Err(format!("image size {w}x{h} outside 1..={MAX_SIDE}"));
        }
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "image too large".to_string())?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("bad PNG image: {e}"))?;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("unexpanded palette image".into()),
    };
    if frame.bit_depth != png::BitDepth::Eight {
        return Err("unsupported PNG bit depth".into());
    }
    let (w, h) = (frame.width as usize, frame.height as usize);
    let row = w * channels;
    if frame.line_size == row {
        buf.truncate(row * h);
    } else {
        // Copy rows out of a padded layout (not produced for 8-bit output today).
        let mut packed = Vec::with_capacity(row * h);
        for line in buf.chunks(frame.line_size).take(h) {
            packed.extend_from_slice(&line[..row]);
        }
        buf = packed;
    }
    Ok(Image::from_data(w, h, channels, buf))
}

/// Encodes an image as an 8-bit PNG with the png crate's fast compression
/// (its own DEFLATE encoder tuned for PNG) and adaptive filtering.
pub fn encode_png(img: &Image) -> Result<Vec<u8>, String> {
    let color = match img.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        4 => png::ColorType::Rgba,
        c => return Err(format!("cannot encode {c} channels")),
    };
    let mut out = Vec::with_capacity(img.data.len() / 2 + 1024);
    {
        let mut encoder = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&img.data)
            .map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_all_channel_counts() {
        for channels in 1..=4 {
            let (w, h) = (13, 7);
            let data: Vec<u8> = (0..w * h * channels)
                .map(|i| ((i * 37 + channels * 11) % 256) as u8)
                .collect();
            let img = Image::from_data(w, h, channels, data);
            let bytes = encode_png(&img).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert_eq!(decode_png(&bytes).unwrap(), img);
        }
    }

    #[test]
    fn gray_weights() {
        let img = Image::from_data(3, 1, 3, vec![255, 0, 0, 0, 255, 0, 255, 255, 255]);
        assert_eq!(img.to_gray().data, vec![77, 149, 255]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_png(b"not an image").is_err());
    }
}

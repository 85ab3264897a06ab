//! QR images drawn locally from a code's `url`, the same content WeChat's own image encodes.

use std::io::Cursor;

use qrcode::{EcLevel, QrCode};

/// Default edge of an image, in pixels (WeChat's own is 430).
pub const DEFAULT_SIZE: u32 = 430;
/// Smallest edge accepted.
pub const MIN_SIZE: u32 = 64;
/// Largest edge accepted.
pub const MAX_SIZE: u32 = 2048;

/// The image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The content does not fit in a QR code.
    #[error("content does not fit in a QR code")]
    Encode(#[from] qrcode::types::QrError),
    /// PNG encoding failed.
    #[error("PNG encoding failed")]
    Png(#[from] image::ImageError),
}

fn code(content: &str) -> Result<QrCode, ImageError> {
    Ok(QrCode::with_error_correction_level(
        content.as_bytes(),
        EcLevel::M,
    )?)
}

/// A PNG of at least `size` x `size` pixels (whole modules, quiet zone included).
///
/// # Errors
/// The content is too long for a QR code, or PNG encoding failed.
pub fn png(content: &str, size: u32) -> Result<Vec<u8>, ImageError> {
    let img = code(content)?
        .render::<image::Luma<u8>>()
        .min_dimensions(size, size)
        .build();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// An SVG document of at least `size` x `size` units.
///
/// # Errors
/// The content is too long for a QR code.
pub fn svg(content: &str, size: u32) -> Result<String, ImageError> {
    Ok(code(content)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(size, size)
        .build())
}

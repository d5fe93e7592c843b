//! QR images of payee codes: render for the terminal and as PNG (merchant side), and decode a
//! PNG back to the payload (payer side, "scanning").

use std::path::Path;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::ClientError;

fn qr(payload: &str) -> Result<QrCode, ClientError> {
    // Medium error correction: what EMVCo merchant-presented codes commonly use.
    QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ClientError::Usage(format!("cannot make a QR code: {e}")))
}

/// The code as text for a terminal (two modules per character row).
pub fn to_terminal(payload: &str) -> Result<String, ClientError> {
    Ok(qr(payload)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

/// Writes the code as a PNG.
pub fn write_png(payload: &str, path: &Path) -> Result<(), ClientError> {
    let image = qr(payload)?
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    image
        .save(path)
        .map_err(|e| ClientError::Usage(format!("{}: cannot write the PNG: {e}", path.display())))
}

/// Reads the payload of the (first) QR code in an image file.
pub fn scan_png(path: &Path) -> Result<String, ClientError> {
    let image = image::open(path)
        .map_err(|e| ClientError::Usage(format!("{}: cannot read the image: {e}", path.display())))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let grid = grids.first().ok_or_else(|| {
        ClientError::Usage(format!("{}: no QR code found in the image", path.display()))
    })?;
    let (_, content) = grid.decode().map_err(|e| {
        ClientError::Usage(format!(
            "{}: the QR code cannot be read: {e}",
            path.display()
        ))
    })?;
    Ok(content)
}

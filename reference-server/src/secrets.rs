//! Server-side secret keys kept in files (mode 0600), created on first start.

use std::path::Path;

use rand::RngCore;

/// The 32-byte key in `dir/name` (64 hex digits), creating it from the OS random source if the
/// file does not exist yet.
pub fn load_or_create_key(dir: &Path, name: &str) -> std::io::Result<[u8; 32]> {
    let path = dir.join(name);
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: expected 64 hex digits", path.display()),
        )
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let hex = text.trim();
            if hex.len() != 64 {
                return Err(bad());
            }
            let mut key = [0u8; 32];
            for (i, byte) in key.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::create_dir_all(dir)?;
            std::fs::write(&path, format!("{hex}\n"))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

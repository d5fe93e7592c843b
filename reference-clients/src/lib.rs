//! # `ompp-clients`: reference merchant terminal and customer wallet
//!
//! Two command-line programs over the `ompp` crate: `ompp-merchant` (a merchant terminal) and
//! `ompp-wallet` (a customer's phone: registration, pairing, push listener, balance). This
//! library holds what both share.
//!
//! # Layout
//! - [`connect`]: TLS 1.3 channels to the operation center, checking the server's role.
//! - [`keys`]: key pairs and certificate signing requests for registration.
//! - [`outcome`]: printing results and OMPP errors for people, and deciding on them by code,
//!   reason and metadata only.
//! - [`qr`]: payee codes as terminal text and PNG, and PNG scanning.
#![deny(missing_docs)]

pub mod connect;
pub mod keys;
pub mod outcome;
pub mod qr;

use std::path::Path;

/// A failure of a client command, printed to the user.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The operation center could not be reached.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The operation center refused the request.
    #[error("{0}")]
    Refused(String),
    /// The user's input is not valid.
    #[error("{0}")]
    Usage(String),
    /// Key or CSR generation failed.
    #[error("key generation: {0}")]
    Keys(String),
    /// TLS material is unusable, or the server is not the one expected.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Reads a file as text.
pub fn read_text(path: &Path) -> Result<String, ClientError> {
    std::fs::read_to_string(path).map_err(|source| ClientError::File {
        path: path.to_owned(),
        source,
    })
}

/// Writes a file, creating its directory; `private` files (keys) get mode 0600 on Unix.
pub fn write_text(path: &Path, text: &str, private: bool) -> Result<(), ClientError> {
    let file_error = |source| ClientError::File {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file_error)?;
    }
    std::fs::write(path, text).map_err(file_error)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(file_error)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// Reads a password from a file (first line, without its line ending), for scripts.
pub fn read_password_file(path: &Path) -> Result<String, ClientError> {
    let text = read_text(path)?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

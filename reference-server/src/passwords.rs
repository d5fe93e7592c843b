//! Payment passwords: stored only as argon2id hashes (OMPP-PWD-002), verified off the async
//! runtime, and never logged.

use argon2::password_hash::{Output, PasswordHash, SaltString};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use ompp::types::Password;
use rand::TryRngCore;
use tokio::sync::Semaphore;

/// The argon2id cost profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashingProfile {
    /// Production parameters: 19 MiB, 2 passes, 1 lane (the OWASP recommendation for argon2id).
    Production,
    /// 8 KiB, 1 pass: for tests and for benchmarks of the protocol path only. Offers no
    /// protection to a stolen database; never use it for real customers.
    FastInsecure,
}

impl HashingProfile {
    fn params(self) -> Params {
        let (m_cost, t_cost) = match self {
            HashingProfile::Production => (19 * 1024, 2),
            HashingProfile::FastInsecure => (8, 1),
        };
        // Both parameter sets are within argon2's bounds, so construction cannot fail; fall back
        // to the library default (which is stronger than FastInsecure) rather than panic.
        Params::new(m_cost, t_cost, 1, None).unwrap_or_default()
    }
}

/// Hashes and verifies passwords with one cost profile. The `*_off_runtime` forms run on a
/// blocking thread and at most one per core at a time: argon2id is memory-hard (19 MiB per
/// verification in production), so running more at once than there are cores only adds
/// memory and latency, never throughput.
#[derive(Debug, Clone)]
pub struct PasswordHasherService {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// argon2id working memory, reused across verifications (at most one buffer per core):
    /// allocating 19 MiB per verification made the allocator hold on to gigabytes under load.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    cores: usize,
}

/// Hashing failed (the random source or the library); the password is not echoed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHasherService {
    /// A hasher with `profile`.
    pub fn new(profile: HashingProfile) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, profile.params()),
            permits: Arc::new(Semaphore::new(cores)),
            memory: Arc::new(Mutex::new(Vec::new())),
            cores,
        }
    }

    /// [`PasswordHasherService::verify`] on a blocking thread, one per core at a time.
    pub async fn verify_off_runtime(&self, password: Password, phc: String) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let hasher = self.clone();
        tokio::task::spawn_blocking(move || hasher.verify(&password, &phc))
            .await
            .unwrap_or(false)
    }

    /// [`PasswordHasherService::hash`] on a blocking thread, one per core at a time.
    pub async fn hash_off_runtime(&self, password: Password) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let hasher = self.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// The PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| HashError(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
        let mut salt_buffer = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_buffer)
            .map_err(|e| HashError(e.to_string()))?;
        let params = self.argon2.params();
        let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
        let mut memory = self.take_memory(params.block_count());
        let hashed = self.argon2.hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt_bytes,
            &mut output,
            &mut memory[..],
        );
        self.give_back_memory(memory);
        hashed.map_err(|e| HashError(e.to_string()))?;
        let output = Output::new(&output).map_err(|e| HashError(e.to_string()))?;
        // The PHC string format, as `PasswordHasher::hash_password` writes it.
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${output}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            salt.as_str()
        ))
    }

    /// Whether `password` matches `phc`. The cost parameters come from the stored hash, so
    /// changing the profile does not lock out existing customers. A malformed stored hash
    /// never matches.
    pub fn verify(&self, password: &Password, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let mut salt_buffer = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
            return false;
        };
        let mut computed = vec![0u8; expected.len()];
        let mut memory = self.take_memory(params.block_count());
        let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut computed,
            &mut memory[..],
        );
        self.give_back_memory(memory);
        // `Output` compares in constant time.
        hashed.is_ok() && Output::new(&computed).is_ok_and(|computed| computed == expected)
    }

    fn take_memory(&self, blocks: usize) -> Vec<Block> {
        let reused = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match reused {
            Some(memory) if memory.len() == blocks => memory,
            _ => vec![Block::default(); blocks],
        }
    }

    fn give_back_memory(&self, memory: Vec<Block>) {
        let mut pool = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < self.cores {
            pool.push(memory);
        }
    }

    /// A hash to verify against when the customer does not exist, so that an unknown customer
    /// costs the same time as a wrong password (OMPP-ERR-004).
    pub fn decoy_hash(&self) -> String {
        Password::parse("decoy-password-never-matches")
            .ok()
            .and_then(|p| self.hash(&p).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_do_not_contain_the_password() {
        let hasher = PasswordHasherService::new(HashingProfile::FastInsecure);
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(hasher.verify(&password, &hash));
        assert!(!hasher.verify(&Password::parse("wrong horse").unwrap(), &hash));
        assert!(!hasher.verify(&password, "not a phc string"));
        // Two hashes of one password differ (random salt).
        assert_ne!(hash, hasher.hash(&password).unwrap());
    }

    #[test]
    fn reused_memory_gives_the_same_answers_across_parameters() {
        let fast = PasswordHasherService::new(HashingProfile::FastInsecure);
        let production = PasswordHasherService::new(HashingProfile::Production);
        let password = Password::parse("correct horse").unwrap();
        let wrong = Password::parse("wrong horse").unwrap();
        let fast_hash = fast.hash(&password).unwrap();
        let production_hash = production.hash(&password).unwrap();
        // One hasher, its memory pool switching between sizes.
        for _ in 0..2 {
            assert!(fast.verify(&password, &production_hash));
            assert!(!fast.verify(&wrong, &production_hash));
            assert!(fast.verify(&password, &fast_hash));
            assert!(!fast.verify(&wrong, &fast_hash));
        }
        // The same hash cut to another output length does not verify: argon2 takes the
        // length as an input.
        let short = fast_hash
            .rsplit_once('$')
            .map(|(head, tail)| format!("{head}${}", &tail[..22]))
            .unwrap();
        assert!(!fast.verify(&password, &short));
    }

    #[test]
    fn production_profile_uses_memory_hard_parameters() {
        let hasher = PasswordHasherService::new(HashingProfile::Production);
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).unwrap();
        assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
        // A hash made under another profile still verifies (parameters live in the hash).
        let fast = PasswordHasherService::new(HashingProfile::FastInsecure);
        assert!(fast.verify(&password, &hash));
    }
}

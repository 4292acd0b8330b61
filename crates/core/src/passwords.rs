//! Account passwords, kept in the operating system's keychain.
//!
//! Tern never writes a password to SQLite or to a plain file. The
//! [`PasswordStore`] trait is what the engine uses; [`Keychain`] implements it
//! on the `keyring-core` credential stores: the Secret Service (GNOME
//! Keyring, KWallet) on Linux, the Keychain on macOS, the Credential Manager
//! on Windows, and, where no Secret Service runs, the Linux kernel keyring.

use std::fmt;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

/// Keychain failures.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The keychain could not be reached or refused access (locked, no
    /// Secret Service running, ...).
    #[error("the system keychain is not available: {0}")]
    Unavailable(String),
    /// The keychain holds something that is not a valid password.
    #[error("the stored password could not be read: {0}")]
    Corrupt(String),
}

/// Where account passwords live. Implementations block: call them from
/// `spawn_blocking`.
pub trait PasswordStore: Send + Sync + fmt::Debug {
    /// The password for `jid`, or `None` if none is stored.
    fn get(&self, jid: &str) -> Result<Option<String>, PasswordError>;
    /// Stores (or replaces) the password for `jid`.
    fn set(&self, jid: &str, password: &str) -> Result<(), PasswordError>;
    /// Forgets the password for `jid`; not an error if there was none.
    fn delete(&self, jid: &str) -> Result<(), PasswordError>;
}

/// Passwords in an OS credential store.
pub struct Keychain {
    store: Arc<CredentialStore>,
    service: String,
}

impl fmt::Debug for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keychain")
            .field("store", &self.store.vendor())
            .field("service", &self.service)
            .finish()
    }
}

/// The keychain service name Tern's entries are filed under.
pub const SERVICE: &str = "im.tern.Tern";

impl Keychain {
    /// The platform's usual keychain.
    pub fn platform() -> Result<Keychain, PasswordError> {
        Ok(Keychain {
            store: platform_store()?,
            service: SERVICE.to_string(),
        })
    }

    /// The Linux kernel keyring (session keyring). It does not survive a
    /// reboot; useful where no Secret Service runs (servers, CI).
    #[cfg(target_os = "linux")]
    pub fn linux_kernel_keyring(service: &str) -> Result<Keychain, PasswordError> {
        let store = linux_keyutils_keyring_store::Store::new()
            .map_err(|e| PasswordError::Unavailable(e.to_string()))?;
        let keychain = Keychain {
            store,
            service: service.to_string(),
        };
        // The first write of a process can be refused (EACCES) while the
        // kernel attaches the persistent keyring to the session; a lookup
        // first settles that.
        let _ = keychain.get("probe@keyring.invalid");
        Ok(keychain)
    }

    /// The Secret Service over D-Bus, with a custom service name.
    #[cfg(target_os = "linux")]
    pub fn secret_service(service: &str) -> Result<Keychain, PasswordError> {
        let store = zbus_secret_service_keyring_store::Store::new()
            .map_err(|e| PasswordError::Unavailable(e.to_string()))?;
        Ok(Keychain {
            store,
            service: service.to_string(),
        })
    }

    fn entry(&self, jid: &str) -> Result<Entry, PasswordError> {
        self.store.build(&self.service, jid, None).map_err(map_err)
    }
}

#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<CredentialStore>, PasswordError> {
    zbus_secret_service_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| PasswordError::Unavailable(e.to_string()))
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, PasswordError> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| PasswordError::Unavailable(e.to_string()))
}

#[cfg(target_os = "windows")]
fn platform_store() -> Result<Arc<CredentialStore>, PasswordError> {
    windows_native_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| PasswordError::Unavailable(e.to_string()))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_store() -> Result<Arc<CredentialStore>, PasswordError> {
    Err(PasswordError::Unavailable(
        "no keychain support on this platform".into(),
    ))
}

fn map_err(e: keyring_core::Error) -> PasswordError {
    match e {
        keyring_core::Error::BadEncoding(_) | keyring_core::Error::BadDataFormat(..) => {
            PasswordError::Corrupt(e.to_string())
        }
        other => PasswordError::Unavailable(other.to_string()),
    }
}

impl PasswordStore for Keychain {
    fn get(&self, jid: &str) -> Result<Option<String>, PasswordError> {
        match self.entry(jid)?.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    fn set(&self, jid: &str, password: &str) -> Result<(), PasswordError> {
        self.entry(jid)?.set_password(password).map_err(map_err)
    }

    fn delete(&self, jid: &str) -> Result<(), PasswordError> {
        match self.entry(jid)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }
}

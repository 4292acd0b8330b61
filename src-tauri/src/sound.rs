//! The sound devices of calls: which microphone and speaker the user chose
//! (none: the system default, followed as it changes), kept in
//! `call-devices.json` in the data folder, and opened for each call (and
//! again when the choice changes during one) through `tern_media::Devices`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tern_core::tern_media::{AudioIo, DeviceError, DeviceInfo, Devices, Role};

use crate::boundary::UiError;

/// The microphone and speaker the user chose, by the ids `Devices::list`
/// gives; `None` is the system default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct DeviceChoice {
    /// The microphone's id, or the system default.
    pub microphone: Option<String>,
    /// The speaker's id, or the system default.
    pub speaker: Option<String>,
}

/// One sound device as the call bar's menu shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, specta::Type)]
pub struct SoundDevice {
    /// What to give `set_call_devices`.
    pub id: String,
    /// The name people know it by.
    pub name: String,
    /// It is the system default now.
    pub is_default: bool,
}

/// The devices there are and the ones chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, specta::Type)]
pub struct CallDevicesView {
    /// Every microphone (monitors of speakers left out).
    pub microphones: Vec<SoundDevice>,
    /// Every speaker.
    pub speakers: Vec<SoundDevice>,
    /// The chosen ones (a chosen device that is not connected now stays
    /// chosen: the system default stands in until it is back).
    pub chosen: DeviceChoice,
}

impl From<DeviceInfo> for SoundDevice {
    fn from(d: DeviceInfo) -> Self {
        SoundDevice {
            id: d.id,
            name: d.name,
            is_default: d.is_default,
        }
    }
}

/// The choice, shared by the commands and the function that opens the
/// devices for a call.
#[derive(Clone, Default)]
pub struct Sound {
    devices: Devices,
    choice: Arc<Mutex<DeviceChoice>>,
    /// Where the choice is kept (set once the data folder is known).
    file: Arc<Mutex<Option<PathBuf>>>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("call-devices.json")
}

impl Sound {
    /// Reads the choice kept in `data_dir` (the defaults if there is none
    /// or it is damaged) and keeps it there from now on.
    pub fn load(&self, data_dir: &Path) {
        let file = path(data_dir);
        let choice = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("ignored the saved sound devices: {e}");
                DeviceChoice::default()
            }),
            Err(_) => DeviceChoice::default(),
        };
        *self.choice.lock().unwrap_or_else(|p| p.into_inner()) = choice;
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
    }

    /// The devices chosen now.
    pub fn choice(&self) -> DeviceChoice {
        self.choice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Chooses devices (kept for later starts); returns what was chosen
    /// before. Blocks on the disk.
    pub fn choose(&self, choice: DeviceChoice) -> DeviceChoice {
        let before = std::mem::replace(
            &mut *self.choice.lock().unwrap_or_else(|p| p.into_inner()),
            choice.clone(),
        );
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(file) = file {
            if let Err(e) = save(&file, &choice) {
                tracing::warn!("the sound devices chosen were not saved: {e}");
            }
        }
        before
    }

    /// The devices there are and the chosen ones. Blocks while the sound
    /// system answers.
    pub fn list(&self) -> CallDevicesView {
        let list = self.devices.list();
        CallDevicesView {
            microphones: list.microphones.into_iter().map(Into::into).collect(),
            speakers: list.speakers.into_iter().map(Into::into).collect(),
            chosen: self.choice(),
        }
    }

    /// Checks that the devices of `choice` are connected, in words a
    /// person can act on when one is not. Blocks like [`Sound::list`].
    pub fn check(&self, choice: &DeviceChoice) -> Result<(), UiError> {
        let list = self.devices.list();
        let there = |id: &Option<String>, devices: &[DeviceInfo]| {
            id.as_ref()
                .is_none_or(|id| devices.iter().any(|d| d.id == *id))
        };
        if !there(&choice.microphone, &list.microphones) {
            return Err(gone(Role::Microphone));
        }
        if !there(&choice.speaker, &list.speakers) {
            return Err(gone(Role::Speaker));
        }
        Ok(())
    }

    /// Opens the chosen devices for a call. A chosen device that is not
    /// connected gives way to the system default (the choice stays, for
    /// when it is back). Blocks while the devices open.
    pub fn open(&self) -> Result<AudioIo, DeviceError> {
        let mut c = self.choice();
        loop {
            match self
                .devices
                .open(c.microphone.as_deref(), c.speaker.as_deref())
            {
                Err(DeviceError::Missing { role, id }) => {
                    tracing::info!(%role, id, "the chosen device is not connected: using the default");
                    let slot = match role {
                        Role::Microphone => &mut c.microphone,
                        Role::Speaker => &mut c.speaker,
                    };
                    if slot.take().is_none() {
                        return Err(DeviceError::Missing { role, id });
                    }
                }
                other => return other,
            }
        }
    }
}

/// A chosen device that is gone, said so that the person knows what to do.
fn gone(role: Role) -> UiError {
    UiError::new(
        "device_missing",
        format!("That {role} is no longer connected. Plug it in again, or choose another one (or System default)."),
    )
}

/// Writes the choice whole or not at all (beside, then renamed).
fn save(file: &Path, choice: &DeviceChoice) -> std::io::Result<()> {
    let tmp = file.with_extension("json.new");
    let json = serde_json::to_vec_pretty(choice).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_choice_survives_a_restart_and_defaults_to_the_system() {
        let tmp = tempfile::tempdir().unwrap();
        let sound = Sound::default();
        sound.load(tmp.path());
        assert_eq!(sound.choice(), DeviceChoice::default(), "system default");
        let headset = DeviceChoice {
            microphone: Some("pulseaudio:alsa_input.usb-headset".into()),
            speaker: None,
        };
        assert_eq!(sound.choose(headset.clone()), DeviceChoice::default());
        let again = Sound::default();
        again.load(tmp.path());
        assert_eq!(again.choice(), headset);
        std::fs::write(tmp.path().join("call-devices.json"), b"{broken").unwrap();
        let damaged = Sound::default();
        damaged.load(tmp.path());
        assert_eq!(damaged.choice(), DeviceChoice::default());
    }

    #[test]
    fn a_device_that_is_gone_is_said_so() {
        let e = gone(Role::Microphone);
        assert_eq!(e.kind, "device_missing");
        assert!(e
            .message
            .starts_with("That microphone is no longer connected."));
    }
}

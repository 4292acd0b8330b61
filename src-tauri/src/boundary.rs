//! Everything that crosses the IPC boundary: what commands take and return,
//! the events the window receives, and [`UiError`], the one error type the
//! UI sees.
//!
//! The engine's [`Snapshot`] and [`ClientEvent`] are already UI-facing (stable
//! `serde` tags, no secrets) and cross as they are; `ui/src/lib/engine.ts`
//! mirrors them. Event names are the `EVENT_*` constants.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tern_core::{
    ConnectError, Error, NewAccount, RegistrationError, RegistrationForm, ServerOverride,
};

pub use tern_core::{
    CallState, CallView, ClientEvent, ContactView, ConversationView, DeviceTrust, DeviceView,
    EncryptionView, InvitationView, MessageView, OccupantView, OwnEncryptionView, ProfileView,
    RoomInfoView, RoomKind, RoomListing, RoomMember, RoomNotify, RoomView, Snapshot,
    UriVerification, VCardView,
};

/// Event carrying an [`EngineEvents`] batch, as its JSON in a string.
pub const EVENT_ENGINE: &str = "engine:events";
/// Event carrying a fresh [`SnapshotView`]: the UI replaces its state (sent
/// when the shell fell behind the engine's event stream).
pub const EVENT_RESYNC: &str = "engine:resync";

/// The engine state with the sequence number of the last event applied to
/// it. The UI applies only events with a higher number.
#[derive(Clone, Debug, Default, Serialize, specta::Type)]
pub struct SnapshotView {
    /// Number of the last event included.
    pub seq: u64,
    /// The state: accounts, unanswered subscription requests, blocklists.
    pub snapshot: Snapshot,
}

/// The calls the window shows: the running one first, then the last ended
/// ones; and whether this build can make calls at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, specta::Type)]
pub struct CallsView {
    /// Calls can be placed and answered (a media stack and sound devices).
    pub available: bool,
    /// The running call first, then the last ended ones.
    pub calls: Vec<CallView>,
}

/// A QR code: `size` rows of `size` modules, `dark` row by row. The window
/// draws it (with a quiet zone of 4 modules around it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, specta::Type)]
pub struct QrCode {
    /// Modules on a side.
    pub size: u32,
    /// Whether each module is dark, row after row (`size` × `size`).
    pub dark: Vec<bool>,
}

/// The longest text [`qr_code`] encodes (a trust URI with a few devices).
const QR_MAX_TEXT: usize = 1024;

/// `text` as a QR code (medium error correction, as Conversations uses).
pub fn qr_code(text: &str) -> Result<QrCode, UiError> {
    let too_long = || UiError::new("too_long", "This text is too long for a QR code.");
    if text.len() > QR_MAX_TEXT {
        return Err(too_long());
    }
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|_| too_long())?;
    Ok(QrCode {
        size: u32::try_from(code.width()).map_err(|_| too_long())?,
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect(),
    })
}

/// Desktop behaviour chosen in Settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, specta::Type)]
pub struct DesktopSettings {
    /// Show a notification for new messages.
    pub notifications: bool,
    /// Put the message text in notifications (else only the sender).
    pub notification_text: bool,
    /// Closing the window keeps Tern running in the tray.
    pub close_to_tray: bool,
    /// Mark misspelled words while typing (a page from before this setting
    /// sends none: on).
    #[serde(default = "on")]
    pub spell_check: bool,
}

fn on() -> bool {
    true
}

/// A list the UI loads once and then keeps current with `engine:event`
/// upserts: events with a `seq` above this one may be newer than the items.
#[derive(Clone, Debug, Serialize, specta::Type)]
pub struct Listed<T> {
    /// Number of the last event sent to the window before the list was read.
    pub seq: u64,
    /// The items.
    pub items: Vec<T>,
}

/// A search result.
#[derive(Clone, Debug, Serialize, specta::Type)]
pub struct SearchHit {
    /// The message found.
    pub message: MessageView,
    /// Excerpt of the body with the matches between `[` and `]`.
    pub snippet: String,
}

/// A new message from the composer.
#[derive(Clone, Debug, Deserialize, specta::Type)]
pub struct Draft {
    /// Sending account.
    pub account: String,
    /// Recipient (bare JID).
    pub peer: String,
    /// Text.
    pub body: String,
    /// Local id of the message this one replies to.
    #[serde(default)]
    pub reply_to: Option<i64>,
}

/// A contact to add or change.
#[derive(Clone, Debug, Deserialize, specta::Type)]
pub struct ContactForm {
    /// Account.
    pub account: String,
    /// Contact's bare JID.
    pub jid: String,
    /// Name to show, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl ContactForm {
    /// The name, trimmed, `None` when blank.
    pub fn name(&self) -> Option<&str> {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }

    /// The groups, trimmed, without blanks or repeats.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in self
            .groups
            .iter()
            .map(|g| g.trim())
            .filter(|g| !g.is_empty())
        {
            if !out.iter().any(|o| o == g) {
                out.push(g.to_string());
            }
        }
        out
    }
}

/// Schemes a link in a message may open in the system's handler.
pub const LINK_SCHEMES: &[&str] = &["http", "https", "xmpp"];

/// Characters that change the order in which text is shown (Unicode
/// bidirectional embeddings, overrides, isolates and marks): in a link they
/// can make it show something other than where it goes
/// (`https://example.org/\u{202E}gnp.exe` shows as `…exe.png`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Checks a link from a message before the system opens it: one of
/// [`LINK_SCHEMES`], no spaces, control characters or bidi controls
/// ([`is_bidi_control`]), bounded length.
pub fn checked_link(url: &str) -> Result<&str, UiError> {
    let refuse = || {
        UiError::new(
            "bad_link",
            "Tern opens only web (http, https) and xmpp: links.",
        )
    };
    let url = url.trim();
    if url.is_empty()
        || url.len() > 4096
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c))
    {
        return Err(refuse());
    }
    let (scheme, rest) = url.split_once(':').ok_or_else(refuse)?;
    let scheme = scheme.to_ascii_lowercase();
    if !LINK_SCHEMES.contains(&scheme.as_str()) {
        return Err(refuse());
    }
    if scheme.starts_with("http") && !(rest.starts_with("//") && rest.len() > 2) {
        return Err(refuse());
    }
    if rest.starts_with('-') || url.starts_with('-') {
        return Err(refuse());
    }
    Ok(url)
}

/// A command's raw request, for a command whose body is bytes rather than
/// JSON (`set_avatar`). Its generated TypeScript takes no arguments: the
/// page sends the bytes as the request body, with headers.
pub struct RawRequest<'a>(pub tauri::ipc::Request<'a>);

impl<'a, R: tauri::Runtime> tauri::ipc::CommandArg<'a, R> for RawRequest<'a> {
    fn from_command(
        command: tauri::ipc::CommandItem<'a, R>,
    ) -> Result<Self, tauri::ipc::InvokeError> {
        tauri::ipc::Request::from_command(command).map(RawRequest)
    }
}

impl specta::function::FunctionArg for RawRequest<'_> {
    fn to_datatype(_: &mut specta::Types) -> Option<specta::datatype::DataType> {
        None
    }
}

/// Header naming the account a picture upload is for (percent-encoded, as
/// header values are ASCII).
pub const ACCOUNT_HEADER: &str = "tern-account";
/// Header with the part of the picture to use: `left,top,width,height` as
/// fractions of the picture's size (optional; without it the centred
/// square is used).
pub const CROP_HEADER: &str = "tern-crop";
/// Largest picture accepted for an avatar, before it is scaled down.
pub const MAX_PICTURE_BYTES: usize = 32 * 1024 * 1024;

/// An avatar upload: the account, the picture and the part of it to use.
#[derive(Debug)]
pub struct PictureUpload {
    /// The account the picture is for.
    pub account: String,
    /// The picture's bytes, as chosen.
    pub picture: Vec<u8>,
    /// The part to use; `None` for the centred square.
    pub crop: Option<tern_core::Crop>,
}

/// Reads an avatar upload: the raw request body, the [`ACCOUNT_HEADER`] and
/// the optional [`CROP_HEADER`].
pub fn picture_upload(
    body: &tauri::ipc::InvokeBody,
    headers: &tauri::http::HeaderMap,
) -> Result<PictureUpload, UiError> {
    let account = headers
        .get(ACCOUNT_HEADER)
        .and_then(|v| percent_decoded(v.as_bytes()))
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            UiError::new(
                "bad_request",
                "Tern did not say which account the picture is for.",
            )
        })?;
    let tauri::ipc::InvokeBody::Raw(bytes) = body else {
        return Err(UiError::new(
            "bad_request",
            "The picture did not arrive as a file. Choose it again.",
        ));
    };
    if bytes.is_empty() {
        return Err(UiError::new(
            "invalid_image",
            "This picture can't be used: the file is empty. Choose a PNG, JPEG, GIF or WebP picture.",
        ));
    }
    if bytes.len() > MAX_PICTURE_BYTES {
        return Err(UiError::new(
            "picture_too_large",
            format!(
                "This picture is too large ({:.1} MB). Choose one of at most {} MB.",
                bytes.len() as f64 / (1024.0 * 1024.0),
                MAX_PICTURE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let crop = match headers.get(CROP_HEADER) {
        None => None,
        Some(v) => Some(crop_from(v.as_bytes()).ok_or_else(|| {
            UiError::new(
                "bad_request",
                "Tern could not tell which part of the picture to use. Choose it again.",
            )
        })?),
    };
    Ok(PictureUpload {
        account,
        picture: bytes.clone(),
        crop,
    })
}

/// `left,top,width,height`, each a finite number from 0 to 1.
fn crop_from(v: &[u8]) -> Option<tern_core::Crop> {
    let parts: Vec<f64> = std::str::from_utf8(v)
        .ok()?
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok())
        .collect::<Option<_>>()?;
    let [left, top, width, height] = parts[..] else {
        return None;
    };
    parts
        .iter()
        .all(|f| f.is_finite() && (0.0..=1.0).contains(f))
        .then_some(tern_core::Crop {
            left,
            top,
            width,
            height,
        })
}

/// Decodes `%XX` escapes; `None` for a broken escape or text that is not UTF-8.
pub(crate) fn percent_decoded(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Engine changes, numbered: the last one is number `seq`, the others
/// count down from it in order (`seq - events.len() + 1` is the first).
#[derive(Clone, Debug, Serialize, specta::Type)]
pub struct EngineEvents {
    /// Number of the last event of the batch.
    pub seq: u64,
    /// The changes, oldest first.
    pub events: Vec<ClientEvent>,
}

/// Manual server settings ("Advanced" in the sign-in form).
#[derive(Clone, Debug, Default, Deserialize, specta::Type)]
pub struct ServerSettings {
    /// Host name or IP to connect to instead of looking up the domain.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// Direct TLS (XEP-0368) instead of STARTTLS.
    #[serde(default)]
    pub direct_tls: bool,
}

impl From<ServerSettings> for ServerOverride {
    fn from(s: ServerSettings) -> Self {
        ServerOverride {
            host: s
                .host
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty()),
            port: s.port,
            direct_tls: s.direct_tls,
        }
    }
}

/// An account to add.
#[derive(Clone, Deserialize, specta::Type)]
pub struct AccountRequest {
    /// `user@server`.
    pub jid: String,
    /// Password; goes to the system keychain.
    pub password: String,
    /// Manual server settings.
    #[serde(default)]
    pub server: ServerSettings,
}

/// Without the password: a request may be logged.
impl std::fmt::Debug for AccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRequest")
            .field("jid", &self.jid)
            .field("password", &"[redacted]")
            .field("server", &self.server)
            .finish()
    }
}

impl From<AccountRequest> for NewAccount {
    fn from(r: AccountRequest) -> Self {
        let mut account = NewAccount::new(&r.jid, &r.password);
        account.server = r.server.into();
        account
    }
}

/// One choice of a list field.
#[derive(Clone, Debug, Serialize, specta::Type)]
pub struct FieldOption {
    /// What to show.
    pub label: String,
    /// What to submit.
    pub value: String,
}

/// One field of a sign-up form.
#[derive(Clone, Debug, Serialize, specta::Type)]
pub struct FormField {
    /// Name to submit the value under.
    pub var: String,
    /// Label from the server, if any.
    pub label: Option<String>,
    /// XEP-0004 type: `text-single`, `text-private`, `hidden`, `fixed`,
    /// `boolean`, `list-single`, ...
    pub kind: String,
    /// Whether the server requires it.
    pub required: bool,
    /// Pre-filled value.
    pub value: Option<String>,
    /// Choices of list fields.
    pub options: Vec<FieldOption>,
}

/// A server's sign-up form (XEP-0077).
#[derive(Clone, Debug, Serialize, specta::Type)]
pub struct SignUpForm {
    /// Instructions from the server.
    pub instructions: Option<String>,
    /// Fields in the server's order.
    pub fields: Vec<FormField>,
}

impl From<&RegistrationForm> for SignUpForm {
    fn from(f: &RegistrationForm) -> Self {
        SignUpForm {
            instructions: f.instructions.clone(),
            fields: f
                .fields
                .iter()
                .map(|x| FormField {
                    var: x.var.clone(),
                    label: x.label.clone(),
                    kind: x.kind.clone(),
                    required: x.required,
                    value: x.value.clone(),
                    options: x
                        .options
                        .iter()
                        .map(|(label, value)| FieldOption {
                            label: label.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Answers to a sign-up form, by field name.
pub type SignUpValues = HashMap<String, String>;

/// An error as the UI shows it: a stable `kind` to branch on and a sentence
/// a person can act on.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, specta::Type)]
pub struct UiError {
    /// Stable identifier (`authentication_failed`, `account_exists`, ...).
    /// Connection failures use [`ConnectError::kind`].
    pub kind: String,
    /// What happened and what to do, in plain words.
    pub message: String,
}

impl UiError {
    /// An error with this kind and message.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        UiError {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl From<ConnectError> for UiError {
    fn from(e: ConnectError) -> Self {
        UiError::new(e.kind(), format!("{}.", capitalized(&e.to_string())))
    }
}

impl From<RegistrationError> for UiError {
    fn from(e: RegistrationError) -> Self {
        let kind = match &e {
            RegistrationError::Connect(c) => return c.clone().into(),
            RegistrationError::NotSupported { .. } => "registration_not_supported",
            RegistrationError::Conflict => "username_taken",
            RegistrationError::NotAcceptable { .. } => "not_acceptable",
            RegistrationError::RateLimited { .. } => "rate_limited",
            RegistrationError::Refused { .. } => "refused",
        };
        UiError::new(kind, format!("{}.", capitalized(&e.to_string())))
    }
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidJid { input, detail } => UiError::new(
                "invalid_address",
                format!("“{input}” is not an address Tern can use ({detail}). An address looks like name@example.org."),
            ),
            Error::InvalidFingerprint(fp) => UiError::new(
                "invalid_fingerprint",
                format!("“{fp}” is not a certificate fingerprint. Trust the certificate from the prompt Tern shows."),
            ),
            Error::NotRefusedCertificate(fp) => UiError::new(
                "not_refused_certificate",
                format!("“{fp}” is not the certificate Tern refused last for this account. Trust the certificate from the prompt Tern shows."),
            ),
            Error::NoRefusedSignIn(jid) => UiError::new(
                "no_refused_sign_in",
                format!("Tern refused no weaker sign-in for {jid}."),
            ),
            Error::UnknownAccount(jid) => UiError::new(
                "unknown_account",
                format!("Tern has no account {jid}; it may have been removed."),
            ),
            Error::AccountExists(jid) => UiError::new(
                "account_exists",
                format!("{jid} is already in Tern; see Accounts."),
            ),
            Error::NotConnected(jid) => UiError::new(
                "not_connected",
                format!("{jid} is not connected right now. Wait until it is connected, then try again."),
            ),
            Error::Connect(c) => c.into(),
            Error::Registration(r) => r.into(),
            Error::Stanza { condition, text } => UiError::new(
                "refused",
                match text {
                    Some(t) if !t.is_empty() => format!("The server refused: {t} ({condition})."),
                    _ => format!("The server refused ({condition})."),
                },
            ),
            Error::Timeout => UiError::new(
                "timeout",
                "The server did not answer in time. Check the connection and try again.",
            ),
            // The kind is the room's own code (`banned`, `password_required`,
            // …), as `RoomView::error` names it.
            Error::Room { code, message } => UiError::new(&code, message),
            // Likewise for files (`no_service`, `too_large`, ...).
            Error::File { code, message } => UiError::new(&code, message),
            // And for encryption keys (`not_a_trust_uri`, `unknown_key`, ...).
            Error::EncryptionKeys { code, message } => UiError::new(&code, message),
            // And for calls (`unavailable`, `busy`, `no_call`, ...).
            Error::Call { code, message } => UiError::new(&code, message),
            Error::InvalidImage(why) => UiError::new(
                "invalid_image",
                format!("This picture can't be used: {why}. Choose a PNG, JPEG, GIF or WebP picture."),
            ),
            Error::Internal(what) => UiError::new(
                "internal",
                format!("Tern could not build the request for {what}. This is a bug in Tern; please report it."),
            ),
            Error::Keychain(k) => UiError::new(
                "keychain_unavailable",
                format!("Tern could not use the system keychain, where it keeps passwords: {k}. Make sure a keyring (GNOME Keyring, KWallet, the macOS Keychain or the Windows Credential Manager) is running and unlocked."),
            ),
            Error::Store(s) => UiError::new("storage", format!("{}.", capitalized(&s.to_string()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_keep_the_engine_kind() {
        let e = UiError::from(Error::Connect(ConnectError::AuthenticationFailed {
            condition: "not-authorized".into(),
        }));
        assert_eq!(e.kind, "authentication_failed");
        assert!(e
            .message
            .starts_with("The server did not accept the password"));
        let r = UiError::from(Error::Registration(RegistrationError::Connect(
            ConnectError::Timeout,
        )));
        assert_eq!(r.kind, "timeout");
    }

    #[test]
    fn a_trust_uri_becomes_a_square_qr_code() {
        let uri = format!(
            "xmpp:juliet@capulet.lit?omemo-sid-1234567890={}",
            "ab".repeat(32)
        );
        let code = qr_code(&uri).unwrap();
        assert!(code.size >= 21 && code.size % 4 == 1, "{}", code.size);
        assert_eq!(code.dark.len(), (code.size * code.size) as usize);
        // The finder pattern's corner is dark, its separator light.
        assert!(code.dark[0] && !code.dark[7]);
        assert_eq!(qr_code(&"x".repeat(2000)).unwrap_err().kind, "too_long");
    }

    #[test]
    fn registration_conflict_means_taken_name() {
        let e = UiError::from(RegistrationError::Conflict);
        assert_eq!(e.kind, "username_taken");
        assert_eq!(e.message, "That user name is already taken on this server.");
    }

    #[test]
    fn blank_host_means_no_override() {
        let o: ServerOverride = ServerSettings {
            host: Some("  ".into()),
            port: None,
            direct_tls: false,
        }
        .into();
        assert_eq!(o.host, None);
    }

    #[test]
    fn only_web_and_xmpp_links_open() {
        assert!(checked_link("https://example.org/a?b=c#d").is_ok());
        assert!(checked_link("HTTP://example.org").is_ok());
        assert!(checked_link("xmpp:juliet@example.org?message").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,<script>",
            "https:",
            "http:/x",
            "https://a b",
            "https://a\nb",
            "--help",
            "",
            "vbscript:x",
        ] {
            assert!(checked_link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_not_printed() {
        let request = AccountRequest {
            jid: "juliet@example.org".into(),
            password: "hunter2-s3cret".into(),
            server: ServerSettings::default(),
        };
        let shown = format!("{request:?} {request:#?}");
        assert!(!shown.contains("hunter2-s3cret"), "{shown}");
        assert!(shown.contains("juliet@example.org"), "{shown}");
        let account = NewAccount::from(request);
        let shown = format!("{account:?} {account:#?}");
        assert!(!shown.contains("hunter2-s3cret"), "{shown}");
        assert!(shown.contains("juliet@example.org"), "{shown}");
    }

    #[test]
    fn links_with_bidi_controls_are_refused() {
        // Embeddings and overrides, isolates, and the bidi marks: each can
        // make a link show something other than where it goes.
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            for link in [
                format!("https://example.org/{c}gnp.exe"),
                format!("https://{c}example.org/"),
                format!("xmpp:juliet@example.org{c}"),
            ] {
                let e = checked_link(&link).expect_err(&format!("{:04X}", c as u32));
                assert_eq!(e.kind, "bad_link");
            }
        }
        assert!(
            checked_link("https://example.org/\u{05D0}").is_ok(),
            "Hebrew text is fine"
        );
    }

    fn headers(account: &str) -> tauri::http::HeaderMap {
        let mut h = tauri::http::HeaderMap::new();
        h.insert(ACCOUNT_HEADER, account.parse().unwrap());
        h
    }

    #[test]
    fn pictures_come_as_raw_bytes_for_a_named_account() {
        use tauri::ipc::InvokeBody;
        let up = picture_upload(
            &InvokeBody::Raw(vec![1, 2, 3]),
            &headers("j%C3%BCrgen%40example.org"),
        )
        .unwrap();
        assert_eq!(up.account, "jürgen@example.org");
        assert_eq!(up.picture, [1, 2, 3]);
        assert_eq!(up.crop, None);
        let mut cropped = headers("a@x");
        cropped.insert(CROP_HEADER, "0.25,0,0.5,1".parse().unwrap());
        let up = picture_upload(&InvokeBody::Raw(vec![1]), &cropped).unwrap();
        assert_eq!(
            up.crop,
            Some(tern_core::Crop {
                left: 0.25,
                top: 0.0,
                width: 0.5,
                height: 1.0
            })
        );
        for bad in [
            "",
            "0,0,1",
            "0,0,1,1,1",
            "a,b,c,d",
            "0,0,2,1",
            "-0.1,0,1,1",
            "NaN,0,1,1",
            "inf,0,1,1",
        ] {
            let mut h = headers("a@x");
            h.insert(CROP_HEADER, bad.parse().unwrap());
            assert_eq!(
                picture_upload(&InvokeBody::Raw(vec![1]), &h)
                    .unwrap_err()
                    .kind,
                "bad_request",
                "{bad:?}"
            );
        }
        let json = InvokeBody::Json(serde_json::json!([1, 2, 3]));
        assert_eq!(
            picture_upload(&json, &headers("a@x")).unwrap_err().kind,
            "bad_request"
        );
        let none = tauri::http::HeaderMap::new();
        assert!(picture_upload(&InvokeBody::Raw(vec![1]), &none).is_err());
        assert!(picture_upload(&InvokeBody::Raw(vec![1]), &headers("a%4")).is_err());
        assert_eq!(
            picture_upload(&InvokeBody::Raw(vec![]), &headers("a@x"))
                .unwrap_err()
                .kind,
            "invalid_image"
        );
    }

    #[test]
    fn pictures_over_32_mb_are_refused() {
        let big = tauri::ipc::InvokeBody::Raw(vec![0; MAX_PICTURE_BYTES + 1]);
        let e = picture_upload(&big, &headers("a@x")).unwrap_err();
        assert_eq!(e.kind, "picture_too_large");
        assert!(e.message.contains("at most 32 MB"), "{}", e.message);
        let ok = tauri::ipc::InvokeBody::Raw(vec![0; MAX_PICTURE_BYTES]);
        assert!(picture_upload(&ok, &headers("a@x")).is_ok());
    }

    #[test]
    fn events_serialize_with_the_engine_tags() {
        let batch = EngineEvents {
            seq: 3,
            events: vec![
                ClientEvent::AccountRemoved { jid: "a@b".into() },
                ClientEvent::SubscriptionRequestRemoved {
                    account: "a@c".into(),
                    from: "d@e".into(),
                },
            ],
        };
        let v = serde_json::to_value(batch).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["events"][0]["type"], "account_removed");
        assert_eq!(v["events"][1]["type"], "subscription_request_removed");
    }
}

//! Sending files (XEP-0363).

use std::path::PathBuf;

use tern_store::MessageRow;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;
use crate::api::files::UploadView;
use crate::outbound::intent::{Prepared, Via};

/// Whether the account can send files.
pub(crate) async fn availability(
    ctx: &Ctx,
    _handle: Option<&AccountHandle>,
) -> crate::Result<UploadView> {
    Ok(UploadView {
        account: ctx.account.clone(),
        domain: ctx.own.domain().to_string(),
        available: None,
        max_bytes: None,
    })
}

/// Stores files to send.
pub(crate) async fn send(
    _ctx: &Ctx,
    _handle: Option<&AccountHandle>,
    _peer: &str,
    _paths: &[PathBuf],
) -> crate::Result<Vec<MessageRow>> {
    Err(crate::Error::Internal("files"))
}

/// The stanza announcing an uploaded file.
pub(crate) fn announcement(_via: Via, _row: &MessageRow) -> Prepared {
    Prepared::Upload
}

/// Starts a message's upload.
pub(crate) fn start(_handle: &AccountHandle, _message_id: i64) {}

/// Makes a failed upload ready to run again.
pub(crate) async fn reset_for_retry(_ctx: &Ctx, _m: &MessageRow) -> crate::Result<()> {
    Ok(())
}

//! Receiving files.

use tern_store::MessageRow;

use crate::account::ctx::Ctx;
use crate::account::AccountHandle;

/// Starts downloading a message's file.
pub(crate) async fn request(
    _ctx: &Ctx,
    _handle: Option<&AccountHandle>,
    _message_id: i64,
) -> crate::Result<MessageRow> {
    Err(crate::Error::Internal("files"))
}

//! The [`Client`](client::Client) facade.

mod blocking;
mod chats;
pub mod client;
mod contacts;
mod discovery;
mod profile;
pub mod rooms;

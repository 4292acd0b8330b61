//! The [`Client`](client::Client) facade.

mod blocking;
mod calls;
mod chats;
pub mod client;
mod contacts;
mod discovery;
pub mod encryption;
pub mod files;
mod omemo;
mod profile;
pub mod rooms;

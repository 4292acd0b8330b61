//! The send queue.

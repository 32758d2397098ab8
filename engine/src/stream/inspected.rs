//! The request bytes a `mode tcp` stream holds for `tcp-request content` inspection, and
//! whether a fetch found them too short while more may still arrive.

use std::cell::{Cell, OnceCell};

/// What a fetch finds in the bytes buffered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extract<T> {
    Found(T),
    /// Not there, and more bytes would not change that.
    Absent,
    /// More bytes are needed to tell: HAProxy's "may change".
    Short,
}

/// The bytes of a `mode tcp` stream buffered before its server is chosen; `Txn::payload`
/// points here. HTTP streams have none, so the layer-6 fetches yield nothing there, as in
/// HAProxy.
pub struct Inspected<'a> {
    pub bytes: &'a [u8],
    /// No more bytes will be waited for (no `inspect-delay`, it expired, the client closed
    /// or the buffer is full): a fetch lacking bytes then simply has no value.
    pub done: bool,
    /// A fetch found the bytes short, or its value may still change, while more may come.
    short: Cell<bool>,
    /// The ClientHello's server name, parsed once however many conditions ask for it.
    server_name: OnceCell<Extract<Box<str>>>,
}

impl<'a> Inspected<'a> {
    pub fn new(bytes: &'a [u8], done: bool) -> Self {
        Self {
            bytes,
            done,
            short: Cell::new(false),
            server_name: OnceCell::new(),
        }
    }

    /// Notes that a fetch's answer may change with more bytes; nothing once `done`.
    pub fn may_change(&self) {
        if !self.done {
            self.short.set(true);
        }
    }

    /// Whether a fetch noted [`Inspected::may_change`] since the last call; clears the note.
    pub fn take_short(&self) -> bool {
        self.short.replace(false)
    }

    /// The server name `parse` reads from the bytes, parsed on the first call only.
    pub fn server_name(&self, parse: fn(&[u8]) -> Extract<Box<str>>) -> Extract<&str> {
        match self.server_name.get_or_init(|| parse(self.bytes)) {
            Extract::Found(n) => Extract::Found(n),
            Extract::Absent => Extract::Absent,
            Extract::Short => Extract::Short,
        }
    }
}

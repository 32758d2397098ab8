//! Heap allocations per proxied keep-alive request, counted by this test binary's global
//! allocator: a GET without rules, in steady state, allocates once (the boxed exchange
//! future, which keeps idle connections small). The client and the origin here allocate
//! nothing per request, so every allocation counted while requests flow is the engine's.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;

use support::*;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The count is process-wide: one measurement at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

// SAFETY: forwards to the system allocator; counting touches no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Reads into `buf` until `ends` says the message is complete; no allocation.
fn read_message(s: &mut TcpStream, buf: &mut [u8], ends: impl Fn(&[u8]) -> bool) {
    let mut n = 0;
    while !ends(&buf[..n]) {
        let got = s.read(&mut buf[n..]).unwrap();
        assert!(got > 0, "the peer closed");
        n += got;
    }
}

/// A keep-alive origin answering every request with `hello`, from fixed buffers.
fn origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let mut n = 0;
                    while !buf[..n].ends_with(b"\r\n\r\n") {
                        match s.read(&mut buf[n..]) {
                            Ok(0) | Err(_) => return,
                            Ok(got) => n += got,
                        }
                    }
                    if s.write_all(RESPONSE).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn one_allocation_per_keep_alive_request(legacy: bool) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let h = run_with_origins(
        "frontend web\n bind 127.0.0.1:0\n default_backend be\nbackend be\n server s1 @origin\n",
        &[("origin", origin())],
        legacy,
    );
    let mut c = TcpStream::connect(addr_of(&h, "web")).unwrap();
    c.set_nodelay(true).unwrap();
    let mut buf = [0u8; 4096];
    let mut exchange = |c: &mut TcpStream| {
        c.write_all(REQUEST).unwrap();
        read_message(c, &mut buf, |b| b.ends_with(b"hello\n"));
    };
    // Warm up: pools, buffers and the server connection exist from here on.
    for _ in 0..500 {
        exchange(&mut c);
    }
    const REQUESTS: u64 = 5000;
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..REQUESTS {
        exchange(&mut c);
    }
    COUNTING.store(false, Ordering::Relaxed);
    let per_request = ALLOCATIONS.load(Ordering::Relaxed) as f64 / REQUESTS as f64;
    drop(h);
    // One: the exchange future, boxed so an idle keep-alive connection does not carry it.
    // A little over one allows for the worker's once-a-second tick.
    assert!(
        per_request < 1.05,
        "{per_request:.2} heap allocations per keep-alive request"
    );
}
both_drivers!(
    one_allocation_per_keep_alive_request,
    super::one_allocation_per_keep_alive_request
);

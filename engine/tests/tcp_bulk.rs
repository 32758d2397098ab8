//! Splice against copy: the same bulk transfer through `proxy` with each transfer mode on
//! each driver. Data must arrive intact; the throughput is printed, never asserted.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::thread;
use std::time::Instant;

use monoio::net::TcpStream;
use ringlb::io::buffer::BufferPool;
use ringlb::sessions::tcp::{proxy, Transfer, TunnelEnd, TunnelTimeouts};
use ringlb::worker::build_runtime;

const BYTES: usize = 64 * 1024 * 1024;

fn transfer(legacy: bool, mode: Transfer) {
    // Sink server counting what it receives and sending its count back.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = sink.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0usize;
        let mut sum = 0u64;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            sum = buf[..n]
                .iter()
                .fold(sum, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)));
        }
        s.write_all(&sum.to_le_bytes()).unwrap();
        total
    });
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let front_addr = front.local_addr().unwrap();
    let client = thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(front_addr).unwrap();
        let chunk: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut sum = 0u64;
        let started = Instant::now();
        for _ in 0..BYTES / chunk.len() {
            c.write_all(&chunk).unwrap();
            sum = chunk
                .iter()
                .fold(sum, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(*b)));
        }
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = [0u8; 8];
        c.read_exact(&mut back).unwrap();
        (started.elapsed(), sum, u64::from_le_bytes(back))
    });
    let (mut rt, driver) = build_runtime(legacy, 256).unwrap();
    let stats = rt.block_on(async move {
        let front = monoio::net::TcpListener::from_std(front).unwrap();
        let (c, _) = front.accept().await.unwrap();
        let s = TcpStream::connect_addr(sink_addr).await.unwrap();
        proxy(
            &mut c.into(),
            &mut s.into(),
            &TunnelTimeouts::default(),
            &BufferPool::new(16384, 64),
            mode,
        )
        .await
    });
    let (elapsed, sent_sum, got_sum) = client.join().unwrap();
    let received = server.join().unwrap();
    assert_eq!(received, BYTES);
    assert_eq!(sent_sum, got_sum, "bytes arrived in order and unchanged");
    assert_eq!(stats.end, TunnelEnd::Closed);
    assert_eq!(stats.to_server, BYTES as u64);
    println!(
        "bulk {} MiB via {driver} with {mode:?}: {:.0} MiB/s",
        BYTES >> 20,
        (BYTES >> 20) as f64 / elapsed.as_secs_f64()
    );
}

#[test]
fn bulk_copy_on_io_uring_arrives_intact() {
    transfer(false, Transfer::Copy);
}

#[test]
fn bulk_splice_on_io_uring_arrives_intact() {
    transfer(false, Transfer::Splice);
}

#[test]
fn bulk_copy_on_epoll_arrives_intact() {
    transfer(true, Transfer::Copy);
}

#[test]
fn bulk_splice_on_epoll_arrives_intact() {
    transfer(true, Transfer::Splice);
}

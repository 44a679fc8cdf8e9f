//! A tiny JSON-lines echo service, the kind `ipcbench run --connect` measures: for every line
//! (one JSON object) it receives over TCP or a Unix socket, it answers one JSON object carrying
//! the same `seq` (and `send_ns`), from `echo` to the sender, with the same payload.
//!
//!   json_echo tcp 127.0.0.1:7000 | unix /path/echo.sock
//!
//! Prints "listening on ADDRESS" once ready. Build and run it in a container next to the client
//! image, or on the host; `cargo run --release --example json_echo -- tcp 127.0.0.1:7000`.

use std::io::{BufRead, BufReader, Write};

fn serve<S: std::io::Read + Write>(stream: S) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut reply_buf = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(&line) else { continue };
        let reply = serde_json::json!({
            "type": "echo",
            "seq": msg.get("seq").cloned().unwrap_or_default(),
            "send_ns": msg.get("send_ns").cloned().unwrap_or_default(),
            "src": "echo",
            "dst": msg.get("src").cloned().unwrap_or_default(),
            "payload": msg.get("payload").cloned().unwrap_or_default(),
        });
        // One write per reply: one segment on the wire.
        reply_buf.clear();
        serde_json::to_writer(&mut reply_buf, &reply)?;
        reply_buf.push(b'\n');
        reader.get_mut().write_all(&reply_buf)?;
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["tcp", addr] => {
            let l = std::net::TcpListener::bind(addr)?;
            println!("listening on {}", l.local_addr()?);
            std::io::stdout().flush()?;
            for s in l.incoming() {
                let s = s?;
                s.set_nodelay(true)?;
                std::thread::spawn(move || serve(s));
            }
        }
        ["unix", path] => {
            let l = std::os::unix::net::UnixListener::bind(path)?;
            println!("listening on {path}");
            std::io::stdout().flush()?;
            for s in l.incoming() {
                let s = s?;
                std::thread::spawn(move || serve(s));
            }
        }
        _ => {
            eprintln!("usage: json_echo tcp HOST:PORT | unix PATH");
            std::process::exit(2);
        }
    }
    Ok(())
}

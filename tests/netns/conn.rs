//! Kept-alive HTTP/1.1 connections into a network namespace, for the
//! scenarios' bulk traffic (thousands of PUTs, and the ledger's GETs and
//! direct HEADs after each scenario). A new connection costs a thread that
//! enters the namespace and a TCP handshake; a [`Pool`] keeps one per
//! server for the thread that owns it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::net;
use crate::harness::RawResponse;

/// One thread's connections into namespace `ns`, one per server address.
pub struct Pool {
    ns: String,
    conns: HashMap<SocketAddr, BufReader<TcpStream>>,
}

impl Pool {
    pub fn new(ns: &str) -> Self {
        Pool {
            ns: ns.to_string(),
            conns: HashMap::new(),
        }
    }

    /// `method path` to `addr` on the kept connection (a new one if there
    /// is none). A kept connection the server closed while idle fails at
    /// once; the request is then sent again on a new one.
    pub fn request(
        &mut self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<RawResponse> {
        if let Some(mut s) = self.conns.remove(&addr) {
            if let Ok((r, keep)) = exchange(&mut s, addr, method, path, headers, body) {
                if keep {
                    self.conns.insert(addr, s);
                }
                return Ok(r);
            }
        }
        let s = net::connect_in(&self.ns, addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_nodelay(true)?;
        let mut s = BufReader::new(s);
        let (r, keep) = exchange(&mut s, addr, method, path, headers, body)?;
        if keep {
            self.conns.insert(addr, s);
        }
        Ok(r)
    }
}

fn bad(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

/// One request and its answer; whether the connection may be used again.
fn exchange(
    s: &mut BufReader<TcpStream>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(RawResponse, bool)> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    s.get_mut().write_all(&out)?;

    let (status, hdrs) = loop {
        let (status, hdrs) = read_head(s)?;
        // Interim answers (100 Continue) come before the real one.
        if !(100..200).contains(&status) {
            break (status, hdrs);
        }
    };
    let has = |name: &str, value: &str| {
        hdrs.iter()
            .any(|(k, v)| k == name && v.eq_ignore_ascii_case(value))
    };
    let mut keep = !has("connection", "close");
    let body = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if has("transfer-encoding", "chunked") {
        read_chunked(s)?
    } else if let Some(len) = hdrs
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        let mut b = vec![0u8; len];
        s.read_exact(&mut b)?;
        b
    } else {
        keep = false;
        let mut b = Vec::new();
        s.read_to_end(&mut b)?;
        b
    };
    Ok(((status, hdrs, body), keep))
}

fn read_line(s: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    if s.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The status line and headers (names lower-case).
fn read_head(s: &mut BufReader<TcpStream>) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = read_line(s)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut headers = Vec::new();
    loop {
        let l = read_line(s)?;
        if l.is_empty() {
            return Ok((status, headers));
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

fn read_chunked(s: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let l = read_line(s)?;
        let size = usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(s)?.is_empty() {}
            return Ok(out);
        }
        let at = out.len();
        out.resize(at + size, 0);
        s.read_exact(&mut out[at..])?;
        let mut crlf = [0u8; 2];
        s.read_exact(&mut crlf)?;
    }
}

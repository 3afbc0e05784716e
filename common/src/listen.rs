//! Listening sockets for every role, with a deep accept queue: a burst of
//! clients (hundreds connecting at once to the proxy, and the proxy's own
//! fan-out to the storage servers) waits in the kernel's queue instead of
//! having its SYNs dropped, which the connecting side only notices as a
//! connect timeout. The kernel caps the queue at `net.core.somaxconn`
//! (4096 on current kernels).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// The accept queue every listener asks for.
pub const BACKLOG: i32 = 4096;

/// Binds `addr` (`ip:port`, or a name that resolves) and listens with
/// [`BACKLOG`], trying each address the name resolves to.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        match listen_on(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: no address"))
    }))
}

fn listen_on(a: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
    // As tokio's bind: a restarted server rebinds at once past TIME_WAIT.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&a.into())?;
    s.listen(BACKLOG)?;
    TcpListener::from_std(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_and_accepts() {
        let l = bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        assert!(bind("no-such-host.invalid:1").await.is_err());
    }
}

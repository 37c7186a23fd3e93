//! A TCP fault proxy (in the spirit of crates.io's ChaosProxy): forwards to a real service until
//! broken, then closes every connection and drops new ones until restored.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::broadcast,
};

/// A running proxy.
pub struct ChaosProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    kill: broadcast::Sender<()>,
}

impl ChaosProxy {
    /// Starts a proxy to `upstream`, initially forwarding when `up`.
    pub async fn start(upstream: SocketAddr, up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(AtomicBool::new(up));
        let (kill, _) = broadcast::channel(1);
        let (flag, killer) = (state.clone(), kill.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !flag.load(Ordering::Acquire) {
                    drop(client);
                    continue;
                }
                let mut killed = killer.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = killed.recv() => {}
                    }
                });
            }
        });
        Self {
            addr,
            up: state,
            kill,
        }
    }

    /// The port to connect to instead of the service's.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Cuts every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::Release);
        let _ = self.kill.send(());
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::Release);
    }
}

//! Test hosts as network namespaces: a private network per test, cut and healed at will.
//!
//! A [`Net`] is one test's network: a bridge in a namespace of its own, and hosts, each a
//! namespace with a veth pair to that bridge and one address in a private `/24`
//! (numbered per process from `10.100.0.0/24`) that exists only inside these namespaces: the
//! machine's own namespace never gets a route to it. Processes run on a host through
//! `ip netns exec` ([`Host::command`], used by the harness's spawners), which also bind-mounts
//! `/etc/netns/<namespace>/hosts` over `/etc/hosts` for that process ([`Net::write_hosts`]).
//!
//! Partitions are nftables rules inside the hosts' namespaces: every host has a table
//! `inet ellison` whose input chain drops packets from the addresses in the set `cut`
//! ([`Net::cut`] adds each side's address to the other's set, [`Net::heal`] removes them), so
//! a cut link behaves as a real partition: nothing is refused, packets vanish, connects and
//! replies hang.
//!
//! The test process itself stays in the machine's namespace. It reaches the hosts from the
//! net's first host, the *observer* (also where the writers run): while a `Net` lives, every
//! connection the harness opens to an address of its subnet ([`connect`], used by
//! [`crate::RespClient`] and [`crate::http_get`]) is made from a socket created inside the
//! observer's namespace. The observer is never cut unless a test asks.
//!
//! Everything is removed when the `Net` is dropped, also when the test fails or panics:
//! the namespaces it created (by name; their veths go with them) and their `/etc/netns`
//! directories. Namespaces are named `ellison-<pid>-<n>-<host>`, so parallel tests and other
//! test processes never collide. Creating namespaces needs root (`CAP_SYS_ADMIN`,
//! `CAP_NET_ADMIN`): without it [`Net::create`] fails with an error that says so.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use nix::sched::CloneFlags;
use tokio::net::{TcpSocket, TcpStream};

use crate::error::{HarnessError, Result};

/// Nets created by this process so far: numbers the subnets and namespace names.
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// The subnets of the nets alive in this process (`10.a.b`), with the path of the observer's
/// namespace: [`connect`] dials their addresses from there.
static ROUTES: Mutex<Vec<([u8; 3], PathBuf)>> = Mutex::new(Vec::new());

/// One host of a [`Net`]: a network namespace with one address on the net's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The name the test gave it (`redis-0`, `sentinel-1`, `ellison`).
    pub name: String,
    /// The namespace's name, for `ip netns exec`.
    pub netns: String,
    /// Its address on the net.
    pub ip: Ipv4Addr,
}

impl Host {
    /// `ip:port`.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    /// `program args` wrapped to run inside this host's namespace: `("ip", ["netns", "exec",
    /// <netns>, program, args...])`. `ip netns exec` execs the program (no fork in between),
    /// so the PID and a parent-death signal set before it are the program's.
    pub fn command(&self, program: &str, args: &[&str]) -> (String, Vec<String>) {
        let mut all = vec![
            "netns".to_owned(),
            "exec".to_owned(),
            self.netns.clone(),
            program.to_owned(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        ("ip".to_owned(), all)
    }
}

/// One test's private network: a bridge namespace and hosts; see the module documentation.
#[derive(Debug)]
pub struct Net {
    /// `ellison-<pid>-<n>`: every namespace of this net starts with it.
    prefix: String,
    /// `10.a.b`: the net's `/24`.
    subnet: [u8; 3],
    /// Namespaces created, bridge first, each deleted on drop.
    created: Mutex<Vec<String>>,
    hosts: Vec<Host>,
    /// Cut pairs of host addresses (smaller first), to heal them all.
    cuts: Mutex<BTreeSet<(Ipv4Addr, Ipv4Addr)>>,
}

impl Net {
    /// Creates the bridge namespace and the observer host (`observer`, the first host), and
    /// routes the harness's connections to this net's subnet through the observer.
    ///
    /// Fails, saying why, when namespaces cannot be created (not root) or `nft` is missing.
    pub fn create() -> Result<Net> {
        for (program, package) in [("ip", "iproute2"), ("nft", "nftables")] {
            if let Err(e) = Command::new(program)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
            {
                return Err(HarnessError::Usage(format!(
                    "the partition tests need `{program}` (Debian package {package}; \
                     scripts/deps.sh installs it): {e}"
                )));
            }
        }
        let n = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        let subnet = [10, 100 + (n / 250 % 100) as u8, (n % 250) as u8];
        let mut net = Net {
            prefix: format!("ellison-{}-{n}", std::process::id()),
            subnet,
            created: Mutex::new(Vec::new()),
            hosts: Vec::new(),
            cuts: Mutex::new(BTreeSet::new()),
        };
        let bridge = net.bridge();
        net.add_netns(&bridge).map_err(|e| {
            HarnessError::Usage(format!(
                "cannot create network namespaces for the partition tests (they need root: \
                 CAP_SYS_ADMIN and CAP_NET_ADMIN; run them as root, as CI does): {e}"
            ))
        })?;
        run_ip(&["-n", &bridge, "link", "set", "lo", "up"])?;
        run_ip(&[
            "-n",
            &bridge,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ])?;
        run_ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
        let observer = net.add_host("observer")?;
        ROUTES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((subnet, netns_path(&observer.netns)));
        Ok(net)
    }

    fn bridge(&self) -> String {
        format!("{}-br", self.prefix)
    }

    fn add_netns(&self, name: &str) -> Result<()> {
        run_ip(&["netns", "add", name])?;
        self.created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(name.to_owned());
        Ok(())
    }

    /// Adds a host: a namespace with loopback up, `eth0` on the bridge with the next address,
    /// and the nftables table that [`Net::cut`] fills.
    pub fn add_host(&mut self, name: &str) -> Result<Host> {
        let index = self.hosts.len();
        if index >= 250 {
            return Err(HarnessError::Usage("a net holds at most 250 hosts".into()));
        }
        let [a, b, c] = self.subnet;
        let host = Host {
            name: name.to_owned(),
            netns: format!("{}-{name}", self.prefix),
            ip: Ipv4Addr::new(a, b, c, index as u8 + 1),
        };
        let ns = host.netns.as_str();
        let bridge = self.bridge();
        let port = format!("h{index}");
        self.add_netns(ns)?;
        run_ip(&["-n", ns, "link", "set", "lo", "up"])?;
        run_ip(&[
            "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
            &bridge,
        ])?;
        run_ip(&["-n", &bridge, "link", "set", &port, "master", "br0"])?;
        run_ip(&["-n", &bridge, "link", "set", &port, "up"])?;
        run_ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/24", host.ip),
            "dev",
            "eth0",
        ])?;
        run_ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        run_nft(ns, NFT_TABLE)?;
        self.hosts.push(host.clone());
        Ok(host)
    }

    /// Every host, the observer first.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Cuts every host of `a` from every host of `b`, both ways: each drops whatever the
    /// other sends. Packets vanish; nothing is refused.
    pub fn cut(&self, a: &[&Host], b: &[&Host]) -> Result<()> {
        self.change(a, b, "add")
    }

    /// Heals every cut.
    pub fn heal_all(&self) -> Result<()> {
        let cuts: Vec<(Ipv4Addr, Ipv4Addr)> = self
            .cuts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        for (x, y) in cuts {
            let (Some(hx), Some(hy)) = (self.host_of(x), self.host_of(y)) else {
                continue;
            };
            self.change(&[&hx], &[&hy], "delete")?;
        }
        Ok(())
    }

    fn host_of(&self, ip: Ipv4Addr) -> Option<Host> {
        self.hosts.iter().find(|h| h.ip == ip).cloned()
    }

    fn change(&self, a: &[&Host], b: &[&Host], verb: &str) -> Result<()> {
        let mut cuts = self
            .cuts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for x in a {
            for y in b {
                if x.ip == y.ip {
                    continue;
                }
                let pair = (x.ip.min(y.ip), x.ip.max(y.ip));
                let known = cuts.contains(&pair);
                if (verb == "add") == known {
                    continue;
                }
                for (from, to) in [(x, y), (y, x)] {
                    run_nft(
                        &to.netns,
                        &format!("{verb} element inet ellison cut {{ {} }}", from.ip),
                    )?;
                }
                if verb == "add" {
                    cuts.insert(pair);
                } else {
                    cuts.remove(&pair);
                }
            }
        }
        Ok(())
    }

    /// Writes `/etc/netns/<namespace>/hosts` for `host`: `localhost` and these names. A
    /// process started on the host afterwards sees it as `/etc/hosts` (`ip netns exec`
    /// bind-mounts it); writing it again later changes what that process resolves, since the
    /// file is rewritten in place.
    pub fn write_hosts(&self, host: &Host, names: &[(&str, Ipv4Addr)]) -> Result<()> {
        let dir = PathBuf::from("/etc/netns").join(&host.netns);
        std::fs::create_dir_all(&dir)
            .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        let mut text = String::from("127.0.0.1 localhost\n");
        for (name, ip) in names {
            text.push_str(&format!("{ip} {name}\n"));
        }
        let path = dir.join("hosts");
        std::fs::write(&path, text)
            .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        ROUTES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(subnet, _)| *subnet != self.subnet);
        let created = std::mem::take(
            &mut *self
                .created
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        // Hosts first, the bridge last: deleting a namespace deletes its veth ends.
        for name in created.iter().rev() {
            let _ = run_ip(&["netns", "del", name]);
            let dir = PathBuf::from("/etc/netns").join(name);
            if dir.exists() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}

/// The table every host gets: drop what the addresses in `cut` send.
const NFT_TABLE: &str = "add table inet ellison\n\
    add set inet ellison cut { type ipv4_addr; }\n\
    add chain inet ellison input { type filter hook input priority 0; policy accept; }\n\
    add rule inet ellison input ip saddr @cut drop\n";

fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

/// Runs `ip args`; an error carries its stderr.
fn run_ip(args: &[&str]) -> Result<()> {
    run("ip", args, None)
}

/// Runs the nftables script `script` inside namespace `ns`.
fn run_nft(ns: &str, script: &str) -> Result<()> {
    run("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(script))
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<()> {
    use std::io::Write as _;
    let what = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::io(format!("run {what}"), e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| HarnessError::io(format!("write to {what}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| HarnessError::io(format!("run {what}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Usage(format!(
            "{what}: {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            stdin.map(|s| format!("\n{s}")).unwrap_or_default()
        )))
    }
}

/// Moves the calling thread into `host`'s network namespace until the returned guard is
/// dropped: sockets it creates meanwhile, and processes it starts, are on that host (a
/// process keeps its namespace). For a harness binary that runs its clients on one thread
/// (the benchmarks' current-thread runtime) and starts a program that listens on loopback.
pub fn enter(host: &Host) -> Result<Entered> {
    let home = File::open("/proc/thread-self/ns/net")
        .map_err(|e| HarnessError::io("open this thread's network namespace", e))?;
    enter_path(&netns_path(&host.netns))
        .map_err(|e| HarnessError::io(format!("enter network namespace {}", host.netns), e))?;
    Ok(Entered { home })
}

/// The calling thread is on a host ([`enter`]); dropping this moves it back.
#[derive(Debug)]
pub struct Entered {
    /// The thread's namespace before [`enter`].
    home: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // If this fails the thread stays on the host: nothing more a drop can do.
        let _ = nix::sched::setns(&self.home, CloneFlags::CLONE_NEWNET);
    }
}

fn enter_path(path: &PathBuf) -> std::io::Result<()> {
    let file = File::open(path)?;
    nix::sched::setns(file, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

/// Connects to `addr`: from the observer host of the net whose subnet holds it, if one is
/// alive in this process; otherwise from where the calling thread is.
pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let route = match addr.ip() {
        IpAddr::V4(ip) => {
            let [a, b, c, _] = ip.octets();
            ROUTES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .find(|(subnet, _)| *subnet == [a, b, c])
                .map(|(_, path)| path.clone())
        }
        IpAddr::V6(_) => None,
    };
    let Some(path) = route else {
        return TcpStream::connect(addr).await;
    };
    // A socket belongs to the namespace it was created in: create it on a thread of its own
    // that enters the observer's namespace (a thread of a pool would stay there), then
    // connect it from here.
    let socket = std::thread::spawn(move || -> std::io::Result<TcpSocket> {
        enter_path(&path)?;
        TcpSocket::new_v4()
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))??;
    socket.connect(addr).await
}

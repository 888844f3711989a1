//! Several of our discv4 nodes on loopback find each other through one bootnode.

use std::{collections::HashSet, time::Duration};

use hypasis_discv4::{Discv4, Discv4Config, packet::NodeRecord};
use hypasis_rlpx::identity::generate_secret_key;

const NODES: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other() {
    let config = Discv4Config::loopback();
    let boot = Discv4::bind(
        "127.0.0.1:0".parse().unwrap(),
        generate_secret_key(),
        Discv4Config {
            tcp_port: 30303,
            ..config.clone()
        },
    )
    .await
    .unwrap();
    let boot_enode = boot.local_enode();
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let cfg = Discv4Config {
            bootnodes: vec![boot_enode.clone()],
            tcp_port: 31000 + i as u16,
            ..config.clone()
        };
        nodes.push(
            Discv4::bind("127.0.0.1:0".parse().unwrap(), generate_secret_key(), cfg)
                .await
                .unwrap(),
        );
    }
    let all: HashSet<_> = nodes.iter().map(|n| n.id()).chain([boot.id()]).collect();

    // Refresh lookups spread the nodes; wait until every table knows most of the others.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let min = nodes.iter().map(|n| n.nodes().len()).min().unwrap();
        if min >= NODES - 1 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in &nodes {
        let known: HashSet<_> = n.nodes().iter().map(|r| r.id).collect();
        assert!(
            known.len() >= NODES - 1,
            "node knows only {} of {}",
            known.len(),
            NODES
        );
        assert!(known.is_subset(&all));
        assert!(!known.contains(&n.id()));
    }
    // The bootnode learned about everyone through their pings.
    assert_eq!(boot.nodes().len(), NODES);

    // A lookup for a node's id finds it; its ENR carries its advertised TCP port.
    let target = nodes[NODES - 1].id();
    let found = nodes[0].lookup(target).await;
    assert!(found.iter().any(|r| r.id == target), "{found:?}");
    let rec: NodeRecord = *found.iter().find(|r| r.id == target).unwrap();
    assert_eq!(rec.endpoint.tcp_port, 31000 + (NODES - 1) as u16);
    // One UDP round trip with a short timeout: retried, as a loaded machine may drop one.
    let mut enr = None;
    for _ in 0..5 {
        enr = nodes[0].request_enr(&rec).await;
        if enr.is_some() {
            break;
        }
    }
    let enr = enr.expect("ENR response");
    assert_eq!(enr.id, target);
    assert_eq!(enr.tcp, Some(31000 + (NODES - 1) as u16));
    // Enodes for the pool.
    assert!(
        nodes[0]
            .enodes()
            .iter()
            .all(|e| e.to_string().starts_with("enode://"))
    );
}

//! `taskgate-compose SOCKET PLUG OUT`: writes to OUT the component SOCKET with every import that
//! an export of PLUG satisfies plugged by PLUG (`wac plug SOCKET --plug PLUG -o OUT`, byte for
//! byte).

use anyhow::Context as _;
use wac_graph::{CompositionGraph, EncodeOptions, types::Package};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, plug, out] = args.as_slice() else {
        anyhow::bail!("usage: taskgate-compose SOCKET PLUG OUT");
    };
    let mut graph = CompositionGraph::new();
    let mut register = |name: &str, path: &str| -> anyhow::Result<_> {
        let package = Package::from_file(name, None, path, graph.types_mut())
            .with_context(|| format!("reading {path}"))?;
        Ok(graph.register_package(package)?)
    };
    let socket = register("socket", socket)?;
    let plug = register("plug", plug)?;
    wac_graph::plug(&mut graph, vec![plug], socket)?;
    let bytes = graph.encode(EncodeOptions::default())?;
    std::fs::write(out, bytes).with_context(|| format!("writing {out}"))?;
    Ok(())
}

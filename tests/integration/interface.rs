//! The built component exposes the documented, versioned WIT interface and nothing unexpected.

use taskgate::EMBEDDED_COMPONENT;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wasmtime::{Config, Engine};

#[test]
fn the_component_exports_the_versioned_validator_and_imports_only_credentials_settings_and_wasi() {
    let engine = Engine::new(&Config::new()).expect("engine");
    let component = Component::new(&engine, EMBEDDED_COMPONENT).expect("component");
    let ty = component.component_type();

    let exports: Vec<(String, ComponentItem)> = ty
        .exports(&engine)
        .map(|(n, i)| (n.to_owned(), i.ty))
        .collect();
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["taskgate:filter/validator@0.3.0"]);
    let ComponentItem::ComponentInstance(validator) = &exports[0].1 else {
        panic!("validator is not an instance");
    };
    let mut functions: Vec<&str> = validator
        .exports(&engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
        .map(|(n, _)| n)
        .collect();
    functions.sort_unstable();
    assert_eq!(functions, ["check", "decode-token", "explain"]);

    for (name, _) in ty.imports(&engine) {
        let allowed = name.starts_with("taskgate:filter/") && name.ends_with("@0.3.0")
            || name.starts_with("wasi:cli/")
            || name.starts_with("wasi:io/");
        assert!(allowed, "unexpected import {name}");
    }
}

#[test]
fn the_release_component_is_at_most_300_kib() {
    assert!(
        EMBEDDED_COMPONENT.len() <= 300 * 1024,
        "{} bytes",
        EMBEDDED_COMPONENT.len()
    );
}

//! The import rules ARCHITECTURE.md states, checked against the code.
//!
//! ARCHITECTURE.md lists each crate's modules in layers (a fenced block whose
//! info string is `layers server` or `layers app`), top to bottom. A module
//! may import only modules on lines below its own; the files inside a folder
//! import each other in one direction only (no circle among siblings). The
//! imports are read from the `use` lines and `crate::` paths of the sources,
//! comments and unit tests left out.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// One source file: its module path (`["store", "ingest"]`) and the module
/// paths it names through `crate::` (or, in `main.rs`, the library's name).
struct Source {
    module: Vec<String>,
    imports: BTreeSet<Vec<String>>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate sits in the workspace")
        .to_path_buf()
}

/// The layers ARCHITECTURE.md gives for `krate`, top first.
fn layers(krate: &str) -> Vec<Vec<String>> {
    let doc = fs::read_to_string(workspace().join("ARCHITECTURE.md")).unwrap();
    let fence = format!("```layers {krate}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no `{}` block", fence.trim()))
        + fence.len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end]
        .lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .filter(|line: &Vec<String>| !line.is_empty())
        .collect()
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut module: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(module.last().map(String::as_str), Some("mod")) {
        module.pop();
    }
    module
}

/// The code of a file without its comments and its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(tests) => &text[..tests],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(comment) => &line[..comment],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a `use` tree names, each as its segments (`a::{b, c::d}` gives
/// `a::b` and `a::c::d`).
fn use_paths(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    match tree.find('{') {
        Some(open) => {
            let mut base = prefix.to_vec();
            base.extend(segments(tree[..open].trim_end_matches("::")));
            let close = tree
                .rfind('}')
                .filter(|close| *close > open)
                .unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            let mut depth = 0;
            let mut item = String::new();
            for ch in inner.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if ch == ',' && depth == 0 {
                    use_paths(&item, &base, out);
                    item.clear();
                } else {
                    item.push(ch);
                }
            }
            use_paths(&item, &base, out);
        }
        None => {
            let mut path = prefix.to_vec();
            let tree = tree.split(" as ").next().unwrap();
            path.extend(segments(tree));
            if !path.is_empty() {
                out.push(path);
            }
        }
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(str::trim)
        .filter(|segment| !segment.is_empty() && *segment != "self" && *segment != "*")
        .map(str::to_owned)
        .collect()
}

/// The module paths `code` (of `module`) names inside its own crate, `root`
/// being how the crate is named there.
fn imports_of(code: &str, module: &[String], root: &str) -> BTreeSet<Vec<String>> {
    let mut paths = Vec::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        match &mut statement {
            Some(text) => text.push_str(trimmed),
            None => {
                let visible = match trimmed.strip_prefix("pub") {
                    Some(rest) if rest.starts_with(' ') => rest.trim_start(),
                    Some(rest) if rest.starts_with('(') => {
                        rest.split_once(") ").map_or(rest, |(_, rest)| rest)
                    }
                    _ => trimmed,
                };
                statement = visible.strip_prefix("use ").map(str::to_owned);
            }
        }
        if let Some(text) = statement.take_if(|text| text.contains(';')) {
            use_paths(text.split(';').next().unwrap(), &[], &mut paths);
        }
    }
    let mut inline = code;
    let marker = format!("{root}::");
    while let Some(at) = inline.find(&marker) {
        let before = inline[..at].chars().last();
        inline = &inline[at + marker.len()..];
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == ':') {
            continue;
        }
        let name: String = inline
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_' || *ch == ':')
            .collect();
        paths.push(
            std::iter::once(root.to_owned())
                .chain(segments(&name))
                .collect(),
        );
    }
    // `super` is the module above: a file's folder, or, from a folder's
    // face (`mod.rs`), the folder above it.
    let parent = &module[..module.len().saturating_sub(1)];
    paths
        .into_iter()
        .filter_map(|path| {
            let (first, tail) = path.split_first()?;
            let mut resolved = if first == root {
                Vec::new()
            } else if first == "super" {
                parent.to_vec()
            } else {
                return None;
            };
            resolved.extend(
                tail.iter()
                    .take_while(|segment| *segment != "super")
                    .cloned(),
            );
            Some(resolved)
        })
        .filter(|path| !path.is_empty())
        .collect()
}

fn sources(krate: &str, root: &str) -> Vec<Source> {
    let src = workspace().join(krate).join("src");
    let mut found = Vec::new();
    files(&src, &mut found);
    found
        .iter()
        .map(|file| {
            let module = module_of(&src, file);
            let code = code_of(&fs::read_to_string(file).unwrap());
            let named = if module == ["main"] { root } else { "crate" };
            let imports = imports_of(&code, &module, named);
            Source { module, imports }
        })
        .collect()
}

/// Every broken rule of `krate`'s layers, in words.
fn broken_rules(krate: &str, library: &str) -> Vec<String> {
    let layers = layers(krate);
    let mut layer_of: BTreeMap<String, usize> = BTreeMap::new();
    for (depth, line) in layers.iter().enumerate() {
        for module in line {
            // Top first: a higher line has a larger layer number.
            layer_of.insert(module.clone(), layers.len() - depth);
        }
    }
    let sources = sources(krate, library);
    let mut broken = Vec::new();
    let top_level: BTreeSet<String> = sources
        .iter()
        .map(|source| {
            source
                .module
                .first()
                .cloned()
                .unwrap_or_else(|| "lib".into())
        })
        .collect();
    for module in &top_level {
        if !layer_of.contains_key(module) {
            broken.push(format!(
                "`{module}` is on no line of the `layers {krate}` block"
            ));
        }
    }
    for module in layer_of.keys() {
        if !top_level.contains(module) {
            broken.push(format!(
                "the `layers {krate}` block names `{module}`, which does not exist"
            ));
        }
    }
    let mut siblings: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for source in &sources {
        let own = source
            .module
            .first()
            .cloned()
            .unwrap_or_else(|| "lib".into());
        for import in &source.imports {
            let target = &import[0];
            if *target == own {
                if source.module.len() == 2 && import.len() >= 2 && import[1] != source.module[1] {
                    let sibling = import[..2].to_vec();
                    // Only modules: an item of the folder's face is no sibling.
                    if top_level_files(&sources).contains(&sibling) {
                        siblings
                            .entry(source.module.clone())
                            .or_default()
                            .insert(sibling);
                    }
                }
                continue;
            }
            match (layer_of.get(&own), layer_of.get(target)) {
                (Some(mine), Some(theirs)) if theirs >= mine => broken.push(format!(
                    "`{}` imports `{}`, which is not on a line below `{own}`",
                    source.module.join("::"),
                    import.join("::")
                )),
                _ => {}
            }
        }
    }
    for circle in circles(&siblings) {
        broken.push(format!(
            "a circle inside a folder: {}",
            circle
                .iter()
                .map(|module| module.join("::"))
                .collect::<Vec<_>>()
                .join(" -> ")
        ));
    }
    broken
}

/// The modules two levels deep (`store::ingest`), the ones sibling rules are about.
fn top_level_files(sources: &[Source]) -> BTreeSet<Vec<String>> {
    sources
        .iter()
        .filter(|source| source.module.len() == 2)
        .map(|source| source.module.clone())
        .collect()
}

/// One circle through each strongly tied group of `edges`, if any.
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    let mut found = Vec::new();
    for start in edges.keys() {
        // A depth-first search back to `start`, along the smallest names first.
        let mut path = vec![start.clone()];
        let mut seen = BTreeSet::new();
        if reaches(start, start, edges, &mut path, &mut seen) {
            let smallest = path.iter().min().unwrap();
            if smallest == start {
                found.push(path);
            }
        }
    }
    found
}

fn reaches(
    from: &Vec<String>,
    goal: &Vec<String>,
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    path: &mut Vec<Vec<String>>,
    seen: &mut BTreeSet<Vec<String>>,
) -> bool {
    for next in edges.get(from).into_iter().flatten() {
        if next == goal {
            path.push(next.clone());
            return true;
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if reaches(next, goal, edges, path, seen) {
                return true;
            }
            path.pop();
        }
    }
    false
}

#[test]
fn the_server_keeps_its_layers() {
    let broken = broken_rules("server", "pulse");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_app_keeps_its_layers() {
    let broken = broken_rules("app", "app");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The store returns rows and domain types: the app's wire types are built
/// above it, in `stats`.
#[test]
fn the_store_never_touches_the_wire_types() {
    let src = workspace().join("server/src/store");
    let mut found = Vec::new();
    files(&src, &mut found);
    let touching: Vec<String> = found
        .iter()
        .filter(|file| code_of(&fs::read_to_string(file).unwrap()).contains("app::"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(touching.is_empty(), "{touching:?}");
}

#[test]
fn a_module_importing_one_above_it_is_found() {
    let code = "use crate::{state::AppState, store::{Store, MINUTE_MS}};\nuse super::seal;\n\
                fn f() { crate::routes::stream::PATH; }";
    let module = vec!["bus".to_owned(), "relay".to_owned()];
    let imports = imports_of(&code_of(code), &module, "crate");
    let expected: BTreeSet<Vec<String>> = [
        vec!["state", "AppState"],
        vec!["store", "Store"],
        vec!["store", "MINUTE_MS"],
        vec!["bus", "seal"],
        vec!["routes", "stream", "PATH"],
    ]
    .into_iter()
    .map(|path| path.into_iter().map(str::to_owned).collect())
    .collect();
    assert_eq!(imports, expected);
}

//! `straum new WORKLOAD --lang rust|python|go [DIR]`: a starting node that answers
//! `init` and every RPC of the workload with a reply of the right shape — generated
//! from the same [`Rpc`] definitions the workload validates replies with — and a TODO
//! where the logic goes. For echo and broadcast the handlers are written out (the
//! broadcast one keeps what it is sent, so it passes challenge 3a but not 3b). Python
//! and Go use only their standard libraries; Rust uses the straum-node SDK by path.
//! The templates are files in `harness/templates/`.

use std::fs;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use straum_workloads::rpc::{FieldType, Rpc};
use straum_workloads::REGISTRY;

use crate::challenge::CHALLENGES;
use crate::doc::doc_options;
use crate::runner::{EXIT_BAD_ARGUMENTS, EXIT_CRASHED};

/// Flags of `straum new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The workload the node is for.
    #[arg(value_name = "WORKLOAD")]
    pub workload: String,
    /// The language to write it in.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to write it (default: `WORKLOAD-LANG` in the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A language `straum new` writes nodes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust on the straum-node SDK.
    Rust,
    /// Python 3, standard library only.
    Python,
    /// Go, standard library only.
    Go,
}

/// One file of a skeleton: its path inside the directory and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct SkeletonFile {
    /// Relative path, e.g. `src/main.rs`.
    pub path: &'static str,
    /// The whole file.
    pub text: String,
    /// Whether it should be executable.
    pub executable: bool,
}

/// A generated node: its files and the command that builds and tests it.
#[derive(Debug, Clone, PartialEq)]
pub struct Skeleton {
    /// The files to write.
    pub files: Vec<SkeletonFile>,
    /// How to build (if needed) and run it.
    pub run: String,
}

const PYTHON_NODE: &str = include_str!("../templates/python/node.py");
const PYTHON_ECHO: &str = include_str!("../templates/python/echo.py");
const PYTHON_BROADCAST: &str = include_str!("../templates/python/broadcast.py");
const GO_MAIN: &str = include_str!("../templates/go/main.go");
const GO_MOD: &str = include_str!("../templates/go/go.mod");
const GO_ECHO: &str = include_str!("../templates/go/echo.go");
const GO_BROADCAST: &str = include_str!("../templates/go/broadcast.go");
const RUST_MAIN: &str = include_str!("../templates/rust/main.rs");
const RUST_CARGO: &str = include_str!("../templates/rust/Cargo.toml");
const RUST_ECHO: &str = include_str!("../templates/rust/echo.rs");
const RUST_BROADCAST: &str = include_str!("../templates/rust/broadcast.rs");

/// Run `straum new`: write the skeleton (never over existing files) and print how to
/// run it.
pub fn run(args: &NewArgs) -> i32 {
    let dir = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}",
            args.workload,
            format!("{:?}", args.lang).to_lowercase()
        ))
    });
    let skeleton = match skeleton(&args.workload, args.lang, &dir) {
        Ok(skeleton) => skeleton,
        Err(e) => {
            eprintln!("straum: {e}");
            return EXIT_BAD_ARGUMENTS;
        }
    };
    if let Some(existing) = skeleton.files.iter().find(|f| dir.join(f.path).exists()) {
        eprintln!(
            "straum: {} already exists; choose another DIR",
            dir.join(existing.path).display()
        );
        return EXIT_BAD_ARGUMENTS;
    }
    for file in &skeleton.files {
        if let Err(e) = write(&dir.join(file.path), &file.text, file.executable) {
            eprintln!(
                "straum: cannot write {}: {e}",
                dir.join(file.path).display()
            );
            return EXIT_CRASHED;
        }
        println!("wrote {}", dir.join(file.path).display());
    }
    println!("run it:\n  {}", skeleton.run);
    0
}

fn write(path: &Path, text: &str, executable: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, text)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The skeleton of a `workload` node in `lang`, to be written into `dir`.
pub fn skeleton(workload: &str, lang: Lang, dir: &Path) -> Result<Skeleton, String> {
    let entry = REGISTRY
        .iter()
        .find(|e| e.name == workload)
        .ok_or_else(|| {
            let names: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
            format!(
                "unknown workload {workload:?}; expected one of: {}",
                names.join(", ")
            )
        })?;
    let rpcs = (entry.build)(&doc_options())?.rpcs();
    let crate_name = format!("{workload}-node");
    let shown = dir.display();
    let bin = match lang {
        Lang::Python => format!("{shown}/node.py"),
        Lang::Go => format!("{shown}/{crate_name}"),
        Lang::Rust => format!("{shown}/target/release/{crate_name}"),
    };
    let test = test_command(workload, &bin);
    let run = match lang {
        Lang::Python => test,
        Lang::Go => format!("(cd {shown} && go build) && {test}"),
        Lang::Rust => format!("cargo build --release --manifest-path {shown}/Cargo.toml && {test}"),
    };
    let (state, handlers) = handlers(workload, lang, rpcs);
    let fill = |template: &str| {
        template
            .replace("{{WORKLOAD}}", workload)
            .replace("{{RUN}}", &run)
            .replace("{{CRATE}}", &crate_name)
            .replace("{{STATE}}", state.trim_end_matches('\n'))
            .replace("{{HANDLERS}}", handlers.trim_end_matches('\n'))
    };
    let file = |path, template: &str, executable| SkeletonFile {
        path,
        text: fill(template),
        executable,
    };
    let files = match lang {
        Lang::Python => vec![file("node.py", PYTHON_NODE, true)],
        Lang::Go => vec![
            file("main.go", GO_MAIN, false),
            file("go.mod", GO_MOD, false),
        ],
        Lang::Rust => {
            let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node-sdk");
            let sdk = sdk.canonicalize().unwrap_or(sdk);
            let mut cargo = file("Cargo.toml", RUST_CARGO, false);
            cargo.text = cargo.text.replace("{{SDK_PATH}}", &sdk.to_string_lossy());
            vec![cargo, file("src/main.rs", RUST_MAIN, false)]
        }
    };
    Ok(Skeleton { files, run })
}

/// The command that tests the node: its workload's first Glomers challenge, else a
/// short `straum test`.
fn test_command(workload: &str, bin: &str) -> String {
    match CHALLENGES.iter().find(|c| c.workload == workload) {
        Some(c) => format!("straum challenge {} --bin {bin}", c.name),
        None => {
            let concurrency = if workload == "lin-kv" {
                " --concurrency 2n"
            } else {
                ""
            };
            format!(
                "straum test -w {workload} --bin {bin} --node-count 1 --time-limit 10{concurrency}"
            )
        }
    }
}

/// The node's state fields and RPC handlers: written out for echo and broadcast,
/// generated from the RPC definitions for the rest.
fn handlers(workload: &str, lang: Lang, rpcs: &[Rpc]) -> (String, String) {
    let written = match (workload, lang) {
        ("echo", Lang::Python) => Some(PYTHON_ECHO),
        ("echo", Lang::Go) => Some(GO_ECHO),
        ("echo", Lang::Rust) => Some(RUST_ECHO),
        ("broadcast", Lang::Python) => Some(PYTHON_BROADCAST),
        ("broadcast", Lang::Go) => Some(GO_BROADCAST),
        ("broadcast", Lang::Rust) => Some(RUST_BROADCAST),
        _ => None,
    };
    if let Some(text) = written {
        let (state, handlers) = text.split_once("%%\n").unwrap_or(("", text));
        return (state.to_string(), handlers.to_string());
    }
    let state = match lang {
        Lang::Python => "        # TODO: the node's state.\n",
        Lang::Go => "\t// TODO: the node's state.\n",
        Lang::Rust => "    // TODO: the node's state.\n",
    };
    let handlers = rpcs.iter().map(|rpc| stub(lang, rpc)).collect();
    (state.to_string(), handlers)
}

/// A handler that answers `rpc` with a reply of the right shape holding placeholder
/// values.
fn stub(lang: Lang, rpc: &Rpc) -> String {
    let fields: Vec<String> = rpc
        .request_fields
        .iter()
        .map(|f| format!("{} ({})", f.name, f.ty.name()))
        .collect();
    let todo = format!(
        "TODO {} → {}: {} The request carries {}.",
        rpc.request,
        rpc.reply,
        rpc.doc,
        if fields.is_empty() {
            "no fields".to_string()
        } else {
            fields.join(", ")
        }
    );
    let value = |ty: FieldType| -> &'static str {
        match (lang, ty) {
            (Lang::Python, FieldType::Any) => "None",
            (Lang::Go, FieldType::Any) => "nil",
            (Lang::Rust, FieldType::Any) => "Value::Null",
            (_, FieldType::Int) => "0",
            (_, FieldType::String) => "\"\"",
            (Lang::Python, FieldType::Bool) => "False",
            (_, FieldType::Bool) => "false",
            (Lang::Python, FieldType::Array) => "[]",
            (Lang::Go, FieldType::Array) => "[]any{}",
            (Lang::Rust, FieldType::Array) => "json!([])",
            (Lang::Python, FieldType::Object) => "{}",
            (Lang::Go, FieldType::Object) => "map[string]any{}",
            (Lang::Rust, FieldType::Object) => "json!({})",
        }
    };
    let reply = &rpc.reply;
    match lang {
        Lang::Python => {
            let mut body = format!("{{\"type\": \"{reply}\"");
            for f in rpc.reply_fields {
                body.push_str(&format!(", \"{}\": {}", f.name, value(f.ty)));
            }
            format!(
                "    def on_{}(self, msg, body):\n{}        self.reply(msg, {body}}})\n\n",
                rpc.request,
                comment(&todo, "        # ")
            )
        }
        Lang::Go => {
            let mut body = format!("map[string]any{{\"type\": \"{reply}\"");
            for f in rpc.reply_fields {
                body.push_str(&format!(", \"{}\": {}", f.name, value(f.ty)));
            }
            format!(
                "\tcase \"{}\":\n{}\t\tn.reply(msg, {body}}})\n",
                rpc.request,
                comment(&todo, "\t\t// ")
            )
        }
        Lang::Rust => {
            let mut body = format!("Body::new(\"{reply}\")");
            for f in rpc.reply_fields {
                body.push_str(&format!(".with(\"{}\", {})", f.name, value(f.ty)));
            }
            format!(
                "            \"{}\" => {{\n{}                ctx.reply(&msg, {body});\n            }}\n",
                rpc.request,
                comment(&todo, "                // ")
            )
        }
    }
}

/// `text` as comment lines starting with `prefix`, wrapped at 88 columns.
fn comment(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && prefix.len() + line.len() + word.len() + 1 > 88 {
            out.push_str(&format!("{prefix}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&format!("{prefix}{line}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_and_language_gets_a_filled_skeleton() {
        for entry in REGISTRY {
            for lang in [Lang::Python, Lang::Go, Lang::Rust] {
                let s = skeleton(entry.name, lang, Path::new("out")).unwrap();
                for f in &s.files {
                    assert!(!f.text.contains("{{"), "{} {lang:?} {}", entry.name, f.path);
                }
                let text: String = s.files.iter().map(|f| f.text.as_str()).collect();
                let workload = (entry.build)(&doc_options()).unwrap();
                for rpc in workload.rpcs() {
                    assert!(
                        text.contains(&format!("\"{}\"", rpc.reply)),
                        "{} {lang:?} never answers {}",
                        entry.name,
                        rpc.reply
                    );
                }
            }
        }
        let python = skeleton("broadcast", Lang::Python, Path::new("b")).unwrap();
        assert_eq!(python.run, "straum challenge 3a --bin b/node.py");
        assert!(python.files[0].executable);
        assert!(skeleton("nope", Lang::Go, Path::new("x"))
            .unwrap_err()
            .contains("expected one of"));
    }
}

//! Every field of the configuration model is read by something that applies it.
//!
//! The project rule: a keyword is applied, or refused at `-c`. Reading a keyword into the
//! model and then never acting on it is a bug. This test parses the model's source
//! (`config/src/model/*.rs` and `config/src/tcpcheck.rs`, re-exported by the model) with
//! `syn`, lists every named field of every struct and struct-like enum variant, then parses
//! the sources of the crates that apply the model and fails for every field none of them
//! reads.
//!
//! The consumers are the workspace members that depend on `ringlb-config` (the engine and
//! the health checker), and `config/src/tls/`, which turns the TLS fields into the rustls
//! objects the engine and the checker connect with. Not consumers: `config/src/parse`,
//! `config/src/dump`, `config/src/model` (filling and printing a field is not applying it),
//! `config/src/validate.rs` (a field it refuses or announces is listed in
//! [`HANDLED_IN_CONFIG`] by hand, with the reason), `bench` (a load harness: it drives
//! ringlb, it applies nothing), and test code (`#[cfg(test)]`, `#[test]`, `*tests.rs`).
//!
//! A field counts as read where a consumer:
//! - accesses it, `x.field`, and the receiver's model type can be guessed: it is itself a
//!   model field (`p.options.httplog`) or an engine struct field of a model type, a
//!   parameter or a `let` with a model type, the element of a model collection bound by
//!   `for`, `if let`, `match` or a closure (`for s in &p.servers`, `.iter().map(|s| …)`,
//!   `TcpCheckAction::Connect(c) =>`), `self` in a model method, or a variable named after
//!   a model field or type (`check.inter`, `server.weight`). Only the struct(s) of that type
//!   count as read;
//! - accesses it through a receiver whose type cannot be guessed, and no struct of the
//!   consumers has a field of that name (the engine's plans copy model fields under the
//!   same names: `plan.dontlognull` says nothing about `Options::dontlognull`); such a read
//!   counts for every model struct with a field of that name;
//! - names it in a struct pattern of a model type, `Balance::Uri { depth, .. }` (through
//!   `use … as` aliases and `Self`); a pattern of another type counts for nothing;
//! - calls a model method whose body reads it (`server.check_tls()`), by a name that is not
//!   also a common std method, or on a receiver of a guessed model type.
//!
//! Startup notices (`engine/src/boot/pending.rs`) are engine code: a field they read counts,
//! since they announce what they do not apply.
//!
//! What it cannot catch: a field read only to be dropped, or read under the wrong
//! condition (a read is not a behaviour test); a wrong guess (shadowed variables, a variable
//! named like a model field that is not one) that makes a field look read; a field read
//! only through a receiver whose type is not guessed and whose name a consumer struct
//! shares fails the test although it is read: make the type visible (a typed parameter or
//! `let`) rather than allowlisting it. Fields read only by an unresolved name that several
//! model structs share are printed as "weakly covered" (`--nocapture`). Enum variants and
//! tuple fields (`Weight(u16)`) are not checked, nor are the rule and ACL types
//! (`config/src/rules`, `config/src/acl`), nor `location` fields (positions for
//! diagnostics). Struct literals do not count: building a model value is not reading it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Expr, Fields, Item, Member, Pat, Token, Type};

/// Fields no consumer has to read, each with why: refused or announced at `-c`, kept only
/// for `dump`, or in effect whatever they say. Each entry is (struct, field, why). An entry
/// that a consumer reads after all makes the test fail, so the list never outlives its
/// reason.
const HANDLED_IN_CONFIG: &[(&str, &str, &str)] = &[
    (
        "Proxy",
        "defaults",
        "the named `defaults` section is folded into the proxy while parsing; the name is \
         kept so that `dump` writes the proxy back with `from NAME`",
    ),
    (
        "Global",
        "nbproc",
        "announced at -c with a warning (parse/global.rs): ringlb runs one process with \
         worker threads, which `nbthread` sets",
    ),
    (
        "StatsSocket",
        "expose_fd_listeners",
        "always on: every serving process offers its listening sockets to its successor \
         (boot/lifecycle/fd_transfer.rs, `@ringlb-listeners-PID`), socket option or not",
    ),
    (
        "BindOptions",
        "expose_fd_listeners",
        "announced at -c (parse/bind.rs): it sets what a runtime API socket hands over, and \
         does nothing on a frontend's `bind`, in HAProxy as here",
    ),
    (
        "BindOptions",
        "level",
        "announced at -c (parse/bind.rs): a runtime API privilege, meaningless on a \
         frontend's `bind`, in HAProxy as here",
    ),
    (
        "BindOptions",
        "process",
        "announced at -c (parse/bind.rs): ringlb runs one process; HAProxy 2.6 deprecates it",
    ),
    (
        "StatsSocket",
        "process",
        "announced at -c (parse/global.rs): one control thread serves the runtime API",
    ),
    (
        "ErrorSource::File",
        "path",
        "the file is read while loading into `contents`, which the engine serves; the path \
         is kept for `dump` and messages",
    ),
    (
        "TcpCheckAction::Send",
        "binary",
        "`data` holds the decoded bytes either way; the flag only tells `dump` to write \
         `send-binary HEX` back rather than `send STRING`",
    ),
    (
        "TcpCheckConnect",
        "linger",
        "always on: a check connection is closed cleanly (FIN), which is what `linger` asks \
         for; HAProxy's default RST close is not copied",
    ),
];

/// Model method names too common to attribute a call to the model by name alone
/// (`Option::or`, `Vec::get`, …): the bodies of model methods with these names count only
/// when the receiver's type could be guessed (`bind_addr.ports.iter()`).
const GENERIC_METHODS: &[&str] = &["or", "new", "get", "iter", "default", "parse", "name"];

#[derive(Debug)]
struct ModelField {
    owner: String,
    field: String,
    /// Model types named in the field's type (`Option<Box<ServerTls>>` → `ServerTls`).
    types: Vec<String>,
    /// The keyword the field comes from, from its doc comment or its owner's.
    keyword: String,
    file: String,
}

/// Reads recorded while walking consumer code.
#[derive(Default)]
struct Reads {
    /// (owner, field) resolved to a model type.
    exact: HashSet<(String, String)>,
    /// Field names read through a receiver of unknown type.
    by_name: HashSet<String>,
    /// Method names called (`x.m()` or `T::m()`).
    calls: HashSet<String>,
    /// Field names of the consumers' own structs: an unresolved `x.name` may be one of
    /// those (the engine's plans copy model fields under the same names), so it does not
    /// count for the model.
    own_fields: HashSet<String>,
    /// (type, method) called on a receiver whose model type could be guessed.
    typed_calls: HashSet<(String, String)>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("config/ lives in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let name = p.file_name().unwrap().to_string_lossy();
            if name != "tests.rs" && !name.ends_with("_tests.rs") {
                out.push(p);
            }
        }
    }
}

fn parse_file(path: &Path) -> syn::File {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn docs(attrs: &[syn::Attribute]) -> String {
    let mut s = String::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta {
            if let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(l),
                ..
            }) = &nv.value
            {
                s.push_str(&l.value());
                s.push(' ');
            }
        }
    }
    s
}

fn first_backticked(doc: &str) -> Option<String> {
    let start = doc.find('`')? + 1;
    let len = doc[start..].find('`')?;
    Some(doc[start..start + len].to_string())
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg")
                && a.meta
                    .require_list()
                    .is_ok_and(|l| l.tokens.to_string() == "test"))
    })
}

/// Every identifier in a type's paths (`Option<Box<ServerTls>>` → Option, Box, ServerTls).
fn type_idents(ty: &Type) -> Vec<String> {
    struct Idents(Vec<String>);
    impl<'a> Visit<'a> for Idents {
        fn visit_path_segment(&mut self, s: &'a syn::PathSegment) {
            self.0.push(s.ident.to_string());
            visit::visit_path_segment(self, s);
        }
    }
    let mut v = Idents(Vec::new());
    v.visit_type(ty);
    v.0
}

/// A model method: its owner, name and body, read on behalf of consumers that call it.
struct ModelMethod {
    owner: String,
    name: String,
    body: syn::Block,
}

struct Model {
    fields: Vec<ModelField>,
    /// Struct names and `Enum::Variant` names with named fields.
    owners: HashSet<String>,
    methods: Vec<ModelMethod>,
    /// Tuple variants (`TcpCheckAction::Connect`) and the idents of their payload types.
    tuple_variants: HashMap<String, Vec<String>>,
    /// Model types held by the consumers' own struct fields, by field name
    /// (`source: BindCert` in the engine's listener): filled before the walk.
    consumer_fields: HashMap<String, Vec<String>>,
    /// `use Model as Alias` in consumer code: alias → model type name.
    aliases: HashMap<String, String>,
}

impl Model {
    fn load(files: &[PathBuf]) -> Model {
        let mut fields = Vec::new();
        let mut methods = Vec::new();
        let mut raw_types: Vec<Vec<String>> = Vec::new();
        let mut tuple_variants: HashMap<String, Vec<String>> = HashMap::new();
        let root = workspace_root();
        for path in files {
            let file = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string();
            for item in parse_file(path).items {
                let mut named = |owner: String, owner_doc: String, f: &Fields| {
                    let Fields::Named(named) = f else { return };
                    for field in &named.named {
                        let name = field.ident.as_ref().unwrap().to_string();
                        let doc = docs(&field.attrs);
                        let word = name.replace('_', "-");
                        let keyword = first_backticked(&doc)
                            .or_else(|| {
                                // `option …`, `tcp-check connect [default] …` → the words
                                // before the first placeholder, then the field's own.
                                let k = first_backticked(&owner_doc)?;
                                let head: Vec<&str> = k
                                    .split_whitespace()
                                    .take_while(|w| !w.starts_with(['[', '<', '…']))
                                    .collect();
                                Some(format!("{} {word}", head.join(" ")))
                            })
                            .unwrap_or(word);
                        raw_types.push(type_idents(&field.ty));
                        fields.push(ModelField {
                            owner: owner.clone(),
                            field: name,
                            types: Vec::new(),
                            keyword,
                            file: file.clone(),
                        });
                    }
                };
                match item {
                    Item::Struct(s) if matches!(s.vis, syn::Visibility::Public(_)) => {
                        named(s.ident.to_string(), docs(&s.attrs), &s.fields);
                    }
                    Item::Enum(e) if matches!(e.vis, syn::Visibility::Public(_)) => {
                        for v in &e.variants {
                            let owner = format!("{}::{}", e.ident, v.ident);
                            if let Fields::Unnamed(u) = &v.fields {
                                let idents = u.unnamed.iter().flat_map(|f| type_idents(&f.ty));
                                tuple_variants.insert(owner.clone(), idents.collect());
                            }
                            named(owner, docs(&v.attrs), &v.fields);
                        }
                    }
                    Item::Impl(i) => {
                        let Type::Path(tp) = &*i.self_ty else {
                            continue;
                        };
                        let owner = tp.path.segments.last().unwrap().ident.to_string();
                        for it in i.items {
                            if let syn::ImplItem::Fn(f) = it {
                                methods.push(ModelMethod {
                                    owner: owner.clone(),
                                    name: f.sig.ident.to_string(),
                                    body: f.block,
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let owners: HashSet<String> = fields.iter().map(|f| f.owner.clone()).collect();
        for (f, idents) in fields.iter_mut().zip(raw_types) {
            f.types = idents.into_iter().filter(|t| owners.contains(t)).collect();
        }
        for idents in tuple_variants.values_mut() {
            idents.retain(|t| owners.contains(t));
        }
        Model {
            fields,
            owners,
            methods,
            tuple_variants,
            consumer_fields: HashMap::new(),
            aliases: HashMap::new(),
        }
    }

    /// The model struct or struct-like variant a pattern's path names, through `use … as`
    /// aliases (`A::ReplacePath`) and `Self`.
    fn pattern_owner(&self, segs: &[String], self_type: Option<&str>) -> Option<String> {
        let mut segs = segs.to_vec();
        if let Some(first) = segs.first_mut() {
            if first == "Self" {
                *first = self_type?.to_string();
            } else if let Some(real) = self.aliases.get(first.as_str()) {
                *first = real.clone();
            }
        }
        match segs.as_slice() {
            [.., e, v] if self.owners.contains(&format!("{e}::{v}")) => Some(format!("{e}::{v}")),
            [.., s] if self.owners.contains(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// Records the model types the consumers' own struct fields hold, and the names model
    /// types are imported under (`use HttpRequestAction as A`).
    fn learn_consumer_fields(&mut self, file: &syn::File) {
        struct Fields<'m>(&'m mut Model);
        impl<'a> Visit<'a> for Fields<'_> {
            fn visit_use_rename(&mut self, r: &'a syn::UseRename) {
                let real = r.ident.to_string();
                let prefix = format!("{real}::");
                if self
                    .0
                    .owners
                    .iter()
                    .any(|o| *o == real || o.starts_with(&prefix))
                {
                    self.0.aliases.insert(r.rename.to_string(), real);
                }
            }
            fn visit_field(&mut self, f: &'a syn::Field) {
                if let Some(id) = &f.ident {
                    let types: Vec<String> = type_idents(&f.ty)
                        .into_iter()
                        .filter(|t| self.0.owners.contains(t))
                        .collect();
                    if !types.is_empty() {
                        let e = self.0.consumer_fields.entry(id.to_string()).or_default();
                        e.extend(types);
                        e.sort();
                        e.dedup();
                    }
                }
            }
        }
        Fields(self).visit_file(file);
    }

    fn has_field(&self, owner: &str, field: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.owner == owner && f.field == field)
    }

    /// The model types of the fields called `name`.
    fn types_of_field(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .fields
            .iter()
            .filter(|f| f.field == name)
            .flat_map(|f| f.types.iter().cloned())
            .chain(
                self.consumer_fields
                    .get(name)
                    .into_iter()
                    .flatten()
                    .cloned(),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The model struct a variable is named after (`server` → `Server`, `bind_tls` → `BindTls`).
    fn type_named(&self, var: &str) -> Option<String> {
        self.owners
            .iter()
            .find(|o| !o.contains("::") && snake(o) == var)
            .cloned()
    }
}

fn snake(camel: &str) -> String {
    let mut s = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.extend(c.to_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Walks consumer code, recording field reads.
struct Walker<'m> {
    model: &'m Model,
    reads: Reads,
    /// The type `self` stands for, inside a model method.
    self_type: Option<String>,
    /// Model types of the current function's variables, where they could be guessed (one
    /// flat scope per function: shadowing is not followed).
    env: HashMap<String, Vec<String>>,
}

/// Methods that hand back (an element of) their receiver: `servers.iter()`, `tls.as_ref()`.
const PASS_THROUGH: &[&str] = &[
    "as_ref",
    "as_deref",
    "as_mut",
    "unwrap",
    "expect",
    "clone",
    "iter",
    "iter_mut",
    "into_iter",
    "first",
    "last",
    "get",
    "cloned",
    "copied",
    "filter",
    "find",
    "rev",
    "skip",
    "take",
    "enumerate",
    "flatten",
    "as_slice",
    "unwrap_or_default",
    "unwrap_or",
    "or",
    "or_else",
    "chain",
    "peekable",
];

impl Walker<'_> {
    /// The model types `e` may have, when that can be guessed from the expression alone.
    fn receiver_types(&self, e: &Expr) -> Vec<String> {
        match e {
            Expr::Paren(p) => self.receiver_types(&p.expr),
            Expr::Reference(r) => self.receiver_types(&r.expr),
            Expr::Unary(u) => self.receiver_types(&u.expr),
            Expr::Index(i) => self.receiver_types(&i.expr),
            Expr::MethodCall(m) if PASS_THROUGH.contains(&m.method.to_string().as_str()) => {
                self.receiver_types(&m.receiver)
            }
            Expr::Try(t) => self.receiver_types(&t.expr),
            Expr::Field(f) => match &f.member {
                Member::Named(m) => self.model.types_of_field(&m.to_string()),
                Member::Unnamed(_) => Vec::new(),
            },
            Expr::Path(p) => {
                let Some(id) = p.path.get_ident() else {
                    return Vec::new();
                };
                let id = id.to_string();
                if id == "self" {
                    return self.self_type.iter().cloned().collect();
                }
                if let Some(t) = self.env.get(&id) {
                    return t.clone();
                }
                let mut t = self.model.types_of_field(&id);
                t.extend(self.model.type_named(&id));
                t
            }
            _ => Vec::new(),
        }
    }

    /// Model types named in a type annotation (`&[Server]` → `Server`).
    fn annotated(&self, ty: &Type) -> Vec<String> {
        type_idents(ty)
            .into_iter()
            .filter(|t| self.model.owners.contains(t))
            .collect()
    }

    /// Binds the variables of `pat` to `types`: `x`, `&x`, `Some(x)`, `(i, x)`, `x: T`.
    fn bind(&mut self, pat: &Pat, types: Vec<String>) {
        match pat {
            Pat::Ident(i) => {
                if types.is_empty() {
                    self.env.remove(&i.ident.to_string());
                } else {
                    self.env.insert(i.ident.to_string(), types);
                }
            }
            Pat::Reference(r) => self.bind(&r.pat, types),
            Pat::Type(t) => {
                let own = self.annotated(&t.ty);
                self.bind(&t.pat, if own.is_empty() { types } else { own });
            }
            Pat::TupleStruct(ts) if ts.elems.len() == 1 => {
                let types = self.variant_payload(&ts.path).unwrap_or(types);
                self.bind(&ts.elems[0], types);
            }
            Pat::Tuple(t) => {
                if let Some(last) = t.elems.last() {
                    self.bind(last, types);
                }
            }
            _ => {}
        }
    }

    /// The payload types of a model tuple variant (`TcpCheckAction::Connect` → `TcpCheckConnect`).
    fn variant_payload(&self, path: &syn::Path) -> Option<Vec<String>> {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let [.., e, v] = segs.as_slice() else {
            return None;
        };
        self.model.tuple_variants.get(&format!("{e}::{v}")).cloned()
    }

    /// A function body with its own variables, its typed parameters bound.
    fn in_fn(&mut self, sig: &syn::Signature, body: impl FnOnce(&mut Self)) {
        let saved = std::mem::take(&mut self.env);
        for input in &sig.inputs {
            if let syn::FnArg::Typed(t) = input {
                let types = self.annotated(&t.ty);
                self.bind(&t.pat, types);
            }
        }
        body(self);
        self.env = saved;
    }

    fn read(&mut self, receiver_types: &[String], field: &str) {
        let owners: Vec<&String> = receiver_types
            .iter()
            .filter(|t| self.model.has_field(t, field))
            .collect();
        if owners.is_empty() {
            self.reads.by_name.insert(field.to_string());
        } else {
            for o in owners {
                self.reads.exact.insert((o.clone(), field.to_string()));
            }
        }
    }

    /// Macro bodies are tokens to syn: read them as expressions (or `matches!`'s expression
    /// and pattern), else take every `.name` not followed by a call as a field read.
    fn macro_tokens(&mut self, name: &str, tokens: TokenStream) {
        use syn::parse::Parser;
        if name == "matches" {
            let parsed = (|input: syn::parse::ParseStream| {
                let e: Expr = input.parse()?;
                input.parse::<Token![,]>()?;
                let p = Pat::parse_multi_with_leading_vert(input)?;
                let guard = if input.peek(Token![if]) {
                    input.parse::<Token![if]>()?;
                    Some(input.parse::<Expr>()?)
                } else {
                    None
                };
                let _ = input.parse::<Option<Token![,]>>()?;
                Ok((e, p, guard))
            })
            .parse2(tokens.clone());
            if let Ok((e, p, guard)) = parsed {
                self.visit_expr(&e);
                self.visit_pat(&p);
                if let Some(g) = guard {
                    self.visit_expr(&g);
                }
                return;
            }
        }
        if let Ok(args) = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens.clone()) {
            for a in &args {
                self.visit_expr(a);
            }
            return;
        }
        self.scan_dots(tokens);
    }

    fn scan_dots(&mut self, tokens: TokenStream) {
        let tts: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tt) in tts.iter().enumerate() {
            match tt {
                TokenTree::Group(g) => self.scan_dots(g.stream()),
                TokenTree::Punct(p) if p.as_char() == '.' => {
                    if let Some(TokenTree::Ident(id)) = tts.get(i + 1) {
                        let call = matches!(tts.get(i + 2), Some(TokenTree::Group(g))
                            if g.delimiter() == proc_macro2::Delimiter::Parenthesis);
                        if !call {
                            self.reads.by_name.insert(id.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

impl<'a> Visit<'a> for Walker<'_> {
    fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            self.in_fn(&f.sig, |w| visit::visit_item_fn(w, f));
        }
    }
    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        if !is_test_only(&i.attrs) {
            visit::visit_item_impl(self, i);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            self.in_fn(&f.sig, |w| visit::visit_impl_item_fn(w, f));
        }
    }

    fn visit_local(&mut self, l: &'a syn::Local) {
        if let Some(init) = &l.init {
            self.visit_expr(&init.expr);
            let types = self.receiver_types(&init.expr);
            self.bind(&l.pat, types);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.visit_pat(&l.pat);
    }

    fn visit_expr_for_loop(&mut self, f: &'a syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        let types = self.receiver_types(&f.expr);
        self.bind(&f.pat, types);
        self.visit_pat(&f.pat);
        self.visit_block(&f.body);
    }

    fn visit_expr_closure(&mut self, c: &'a syn::ExprClosure) {
        // `|o: Option<&OriginalTo>| …`: a typed parameter says what it holds.
        for input in &c.inputs {
            if let Pat::Type(t) = input {
                let types = self.annotated(&t.ty);
                if !types.is_empty() {
                    self.bind(&t.pat, types);
                }
            }
        }
        visit::visit_expr_closure(self, c);
    }

    fn visit_expr_match(&mut self, m: &'a syn::ExprMatch) {
        self.visit_expr(&m.expr);
        let types = self.receiver_types(&m.expr);
        for arm in &m.arms {
            self.bind(&arm.pat, types.clone());
            self.visit_arm(arm);
        }
    }

    fn visit_expr_let(&mut self, l: &'a syn::ExprLet) {
        self.visit_expr(&l.expr);
        let types = self.receiver_types(&l.expr);
        self.bind(&l.pat, types);
        self.visit_pat(&l.pat);
    }

    fn visit_field(&mut self, f: &'a syn::Field) {
        if let Some(id) = &f.ident {
            self.reads.own_fields.insert(id.to_string());
        }
        visit::visit_field(self, f);
    }

    fn visit_expr_field(&mut self, e: &'a syn::ExprField) {
        if let Member::Named(m) = &e.member {
            let types = self.receiver_types(&e.base);
            self.read(&types, &m.to_string());
        }
        visit::visit_expr_field(self, e);
    }

    fn visit_pat_tuple_struct(&mut self, p: &'a syn::PatTupleStruct) {
        // `TcpCheckAction::Connect(c)` in a match arm: `c` is a `TcpCheckConnect`.
        if let (Some(types), 1) = (self.variant_payload(&p.path), p.elems.len()) {
            self.bind(&p.elems[0], types);
        }
        visit::visit_pat_tuple_struct(self, p);
    }

    fn visit_pat_struct(&mut self, p: &'a syn::PatStruct) {
        let segs: Vec<String> = p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let owner = self.model.pattern_owner(&segs, self.self_type.as_deref());
        // A pattern names its type: one that is not the model's reads no model field
        // (`Fetch::Var { default, .. }` says nothing of `TcpCheckConnect::default`).
        for fp in &p.fields {
            if let (Member::Named(m), Some(o)) = (&fp.member, &owner) {
                self.reads.exact.insert((o.clone(), m.to_string()));
            }
        }
        visit::visit_pat_struct(self, p);
    }

    fn visit_expr_method_call(&mut self, m: &'a syn::ExprMethodCall) {
        let name = m.method.to_string();
        let types = self.receiver_types(&m.receiver);
        // `servers.iter().map(|s| …)`: the closure's first parameter is an element.
        for arg in &m.args {
            if let Expr::Closure(c) = arg {
                if let Some(p) = c.inputs.first() {
                    self.bind(p, types.clone());
                }
            }
        }
        for t in types {
            self.reads.typed_calls.insert((t, name.clone()));
        }
        self.reads.calls.insert(name);
        visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_call(&mut self, c: &'a syn::ExprCall) {
        if let Expr::Path(p) = &*c.func {
            if let Some(s) = p.path.segments.last() {
                self.reads.calls.insert(s.ident.to_string());
            }
        }
        visit::visit_expr_call(self, c);
    }

    fn visit_macro(&mut self, m: &'a syn::Macro) {
        let name = m
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        self.macro_tokens(&name, m.tokens.clone());
    }
}

/// Which workspace members use the model: those that depend on `ringlb-config`.
fn consumer_dirs(root: &Path) -> Vec<PathBuf> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("workspace members");
    let mut dirs = Vec::new();
    for m in members.split('"').skip(1).step_by(2) {
        // config is the model's own crate; bench is a load harness that applies nothing.
        if m == "config" || m == "bench" {
            continue;
        }
        let toml = fs::read_to_string(root.join(m).join("Cargo.toml")).unwrap();
        if toml.contains("ringlb-config") {
            dirs.push(root.join(m).join("src"));
        }
    }
    dirs.push(root.join("config/src/tls"));
    dirs
}

fn audit() -> (Model, Reads) {
    let root = workspace_root();
    let mut model_files = Vec::new();
    rust_files(&root.join("config/src/model"), &mut model_files);
    model_files.push(root.join("config/src/tcpcheck.rs"));
    let mut model = Model::load(&model_files);

    let mut consumer_files = Vec::new();
    for d in consumer_dirs(&root) {
        rust_files(&d, &mut consumer_files);
    }
    let consumer_files: Vec<(PathBuf, syn::File)> = consumer_files
        .into_iter()
        .map(|f| {
            let parsed = parse_file(&f);
            (f, parsed)
        })
        .collect();
    for (_, f) in &consumer_files {
        model.learn_consumer_fields(f);
    }
    assert!(
        consumer_files.len() > 50,
        "too few consumer files found: {}",
        consumer_files.len()
    );
    let mut w = Walker {
        model: &model,
        reads: Reads::default(),
        self_type: None,
        env: HashMap::new(),
    };
    for (_, f) in &consumer_files {
        w.visit_file(f);
    }
    // A model method a consumer calls reads on the consumer's behalf (one level deep).
    for m in &model.methods {
        let by_type = w
            .reads
            .typed_calls
            .contains(&(m.owner.clone(), m.name.clone()));
        let by_name =
            w.reads.calls.contains(&m.name) && !GENERIC_METHODS.contains(&m.name.as_str());
        if by_type || by_name {
            w.self_type = Some(m.owner.clone());
            w.visit_block(&m.body);
        }
    }
    let reads = w.reads;
    (model, reads)
}

#[test]
fn every_model_field_is_read_by_a_consumer() {
    let (model, reads) = audit();
    let allowed: HashMap<(&str, &str), &str> = HANDLED_IN_CONFIG
        .iter()
        .map(|&(o, f, why)| ((o, f), why))
        .collect();
    let mut owners_by_name: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for f in &model.fields {
        owners_by_name.entry(&f.field).or_default().insert(&f.owner);
    }

    let mut unread = Vec::new();
    let mut weak = BTreeMap::new();
    for f in &model.fields {
        // Positions are for diagnostics, never applied.
        if f.field == "location" {
            continue;
        }
        let exact = reads.exact.contains(&(f.owner.clone(), f.field.clone()));
        let by_name = reads.by_name.contains(&f.field) && !reads.own_fields.contains(&f.field);
        let allowlisted = allowed.contains_key(&(f.owner.as_str(), f.field.as_str()));
        if allowlisted {
            assert!(
                !exact,
                "{}.{} is in HANDLED_IN_CONFIG but a consumer reads it: remove the entry",
                f.owner, f.field
            );
            continue;
        }
        if !exact && !by_name {
            unread.push(format!(
                "{}.{} (`{}`, {}): parsed but never read by the engine or the checker",
                f.owner, f.field, f.keyword, f.file
            ));
        } else if !exact && owners_by_name[f.field.as_str()].len() > 1 {
            weak.insert(
                format!("{}.{}", f.owner, f.field),
                owners_by_name[f.field.as_str()].len(),
            );
        }
    }
    for (o, f) in allowed.keys() {
        assert!(
            model.has_field(o, f),
            "HANDLED_IN_CONFIG names {o}.{f}, which the model does not have"
        );
    }
    if !weak.is_empty() {
        println!("weakly covered (read only by a name that several structs share):");
        for (f, n) in &weak {
            println!("    {f} (name shared by {n} structs)");
        }
    }
    assert!(
        unread.is_empty(),
        "{} model field(s) are parsed but never applied; apply each in the engine, refuse \
         the keyword at -c (\"… is not supported yet\"), or list it in HANDLED_IN_CONFIG with \
         the reason:\n    {}",
        unread.len(),
        unread.join("\n    ")
    );
}

/// The audit must see the engine's reads: if it found none, a passing result means nothing.
#[test]
fn the_audit_sees_known_reads() {
    let (_, reads) = audit();
    for (owner, field) in [
        ("Server", "weight"),
        ("Timeouts", "client"),
        ("Options", "httplog"),
        ("Balance::Uri", "depth"),
    ] {
        assert!(
            reads
                .exact
                .contains(&(owner.to_string(), field.to_string()))
                || reads.by_name.contains(field),
            "the audit did not see {owner}.{field} read"
        );
    }
}

//! The analysed set: every resource plus indexes built once, so rules look things up instead of
//! scanning all resources against all resources.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use mspack_yaml::{CompactString, Node, ParsedFile, SourceFile, Span, Value, YamlError};
use prefetch_index::prefetch_index;

use crate::config::LintOptions;
pub use crate::fast_map::FastMap;
use crate::hosts::to_fqdn;
use crate::id_table::IdTable;
use crate::mesh::{MeshConfig, MeshNetworks};
use crate::resource::{
    DocumentShape, Kind, Resource, classify_document, read_identity, split_api_version,
};
use crate::workloads::{Selector, Workload, WorkloadIndex};

/// A port of a service known to the mesh.
#[derive(Clone, Debug)]
pub struct ServicePort {
    pub number: Option<i64>,
    pub name: String,
    pub protocol: String,
}

/// A host the mesh can route to: a Kubernetes Service or a ServiceEntry host.
#[derive(Clone, Debug)]
pub struct MeshService {
    /// Index of the Service or ServiceEntry resource.
    pub resource: usize,
    pub fqdn: String,
    pub ports: Vec<ServicePort>,
}

/// Istio's scoped host map: `(visibility scope, fqdn) -> service`, scope `*` for every namespace.
#[derive(Debug, Default)]
pub struct HostRegistry {
    pub services: Vec<MeshService>,
    /// fqdn -> (visibility scope, service index); a later entry for the same scope replaces an
    /// earlier one, as in Istio's map.
    exact: FastMap<String, Vec<(String, usize)>>,
    wildcards: Vec<(String, String, usize)>,
}

impl HostRegistry {
    fn insert(&mut self, scope: &str, fqdn: &str, idx: usize) {
        if fqdn.starts_with('*') {
            self.wildcards
                .push((scope.to_string(), fqdn.to_string(), idx));
        }
        let scopes = self.exact.entry(fqdn.to_string()).or_default();
        match scopes.iter_mut().find(|(s, _)| s == scope) {
            Some(slot) => slot.1 = idx,
            None => scopes.push((scope.to_string(), idx)),
        }
    }

    /// Istio's `GetDestinationHost`: find the service a destination `host` written in namespace
    /// `source_ns` (by a resource with `export_to`) refers to.
    pub fn lookup(
        &self,
        source_ns: &str,
        export_to: &[&str],
        host: &str,
        cluster_domain: &str,
    ) -> Option<&MeshService> {
        self.lookup_index(source_ns, export_to, host, cluster_domain)
            .and_then(|i| self.services.get(i))
    }

    /// [`HostRegistry::lookup`], as an index into [`HostRegistry::services`].
    pub fn lookup_index(
        &self,
        source_ns: &str,
        export_to: &[&str],
        host: &str,
        cluster_domain: &str,
    ) -> Option<usize> {
        let fqdn = to_fqdn(source_ns, host, cluster_domain);
        let scopes = self
            .exact
            .get(fqdn.as_ref())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let get = |scope: &str| scopes.iter().find(|(s, _)| s == scope).map(|&(_, i)| i);
        if let Some(i) = get("*") {
            return Some(i);
        }
        if export_to.is_empty() {
            if let Some(i) = get(source_ns) {
                return Some(i);
            }
        } else {
            for e in export_to {
                let scope = if *e == "." { source_ns } else { e };
                if let Some(i) = get(scope) {
                    return Some(i);
                }
            }
        }
        let host_tail = host.strip_prefix('*').unwrap_or(host);
        self.wildcards
            .iter()
            .filter(|(scope, _, _)| scope == "*" || scope == source_ns)
            .find(|(_, pattern, _)| host_tail.ends_with(pattern.trim_start_matches('*')))
            .map(|(_, _, i)| *i)
    }
}

/// Something in the input that the analysed set could not take as it stands. The index keeps
/// these as data; rules report them (MSP001, MSP002, MSP004).
#[derive(Debug)]
pub enum LoadIssue {
    /// A file that could not be read at all (I/O error, over a size limit).
    Unreadable {
        file: Arc<SourceFile>,
        message: String,
    },
    /// A file whose loading stopped at `error` (documents before it were loaded).
    Unparsed {
        file: Arc<SourceFile>,
        error: YamlError,
    },
    /// A problem that did not stop loading (a repeated mapping key).
    YamlWarning {
        file: Arc<SourceFile>,
        error: YamlError,
    },
    /// A document with `apiVersion`/`kind` whose identity is malformed.
    InvalidResource {
        file: Arc<SourceFile>,
        span: Span,
        message: String,
    },
    /// An object defined again later in the input: as `istioctl` does, the last definition is the
    /// one analysed, and this earlier one is dropped.
    Duplicate {
        file: Arc<SourceFile>,
        span: Span,
        /// `Kind namespace/name` of the dropped copy.
        resource: String,
        /// Index in [`Workspace::resources`] of the definition kept.
        kept: usize,
    },
}

impl LoadIssue {
    /// Whether a file could not be read or parsed (the CLI exits 2 after reporting).
    pub fn is_unloadable(&self) -> bool {
        matches!(
            self,
            LoadIssue::Unreadable { .. } | LoadIssue::Unparsed { .. }
        )
    }
}

type SharedCell = Arc<OnceLock<Arc<dyn std::any::Any + Send + Sync>>>;

/// Every resource of a run, the mesh inputs and lazily built, shared indexes.
pub struct Workspace {
    pub resources: Vec<Resource>,
    /// Every loaded file, in input order (for what lives outside resources: comments).
    pub sources: Vec<Arc<SourceFile>>,
    /// The mappings that are not Kubernetes objects (no `apiVersion`, no `kind`), in input
    /// order with their files: standalone Collector and OBI configs are such documents.
    pub other_documents: Vec<(Arc<SourceFile>, Node)>,
    pub options: LintOptions,
    pub mesh: MeshConfig,
    pub networks: Option<MeshNetworks>,
    /// Number of input files.
    pub files: usize,
    /// What could not be loaded as it stands, in input order.
    pub load_issues: Vec<LoadIssue>,
    /// Spans read from `--traces` (none unless given).
    pub traces: Option<Arc<crate::graph::traces::Traces>>,
    by_kind: FastMap<Kind, Vec<usize>>,
    /// Resources by (kind, namespace, name); the first definition of a name.
    by_name: IdTable,
    namespaces: BTreeSet<String>,
    /// Kinds that the input (not the assumed defaults) has at least one resource of.
    input_kinds: std::collections::HashSet<Kind>,
    hosts: OnceLock<HostRegistry>,
    workloads: OnceLock<WorkloadIndex>,
    services_by_fqdn: OnceLock<FastMap<String, Vec<usize>>>,
    schemas: crate::schema::SchemaSet,
    /// Analyses shared by the rules of one analyzer, computed once per run (see [`Workspace::shared`]).
    shared: std::sync::Mutex<HashMap<std::any::TypeId, SharedCell>>,
}

impl Workspace {
    /// Build the workspace from loaded files. What cannot be read as resources is kept in
    /// [`Workspace::load_issues`]; an object defined more than once is kept once, its last
    /// definition (as `istioctl` applies them).
    pub fn build(
        files: Vec<ParsedFile>,
        options: LintOptions,
        mesh: MeshConfig,
        networks: Option<MeshNetworks>,
    ) -> Workspace {
        let file_count = files.len();
        let sources: Vec<Arc<SourceFile>> = files.iter().map(|f| f.source.clone()).collect();
        let kustomizations = Kustomizations::find(&files);
        // Files become resources in parallel; ids are given in input order afterwards.
        let per_file: Vec<FileRead> = files
            .into_par_iter()
            .map(|file| {
                let namespace = kustomizations.namespace_of(&file.source.path);
                read_file_resources(file, &options, namespace)
            })
            .collect();
        let mut load_issues = Vec::new();
        let mut resources = Vec::with_capacity(per_file.iter().map(|f| f.resources.len()).sum());
        let mut other_documents = Vec::new();
        for file in per_file {
            load_issues.extend(file.issues);
            resources.extend(file.resources);
            other_documents.extend(file.other_documents);
        }
        let mut resources = drop_duplicates(resources, &mut load_issues);
        for (id, r) in resources.iter_mut().enumerate() {
            r.id = id;
        }
        if options.istio_defaults {
            add_istio_defaults(&mut resources, &options.root_namespace);
        }
        let mut by_kind: FastMap<Kind, Vec<usize>> = FastMap::default();
        let mut by_name = IdTable::with_capacity(resources.len());
        let mut namespaces = BTreeSet::new();
        let input_kinds = resources
            .iter()
            .filter(|r| !r.assumed)
            .map(|r| r.kind)
            .collect();
        for r in &resources {
            by_kind.entry(r.kind).or_default().push(r.id);
            by_name.insert(r.id, |id| name_key(&resources[id]), false);
            if r.assumed {
                continue;
            }
            let ns = if r.kind == Kind::Namespace {
                &r.name
            } else if !r.kind.is_cluster_scoped() {
                &r.ns
            } else {
                continue;
            };
            // Objects that name no namespace share one unknown namespace, not counted as one.
            if !ns.is_empty() && !namespaces.contains(ns.as_str()) {
                namespaces.insert(ns.to_string());
            }
        }
        Workspace {
            resources,
            sources,
            other_documents,
            options,
            mesh,
            networks,
            files: file_count,
            load_issues,
            traces: None,
            by_kind,
            by_name,
            namespaces,
            input_kinds,
            hosts: OnceLock::new(),
            workloads: OnceLock::new(),
            services_by_fqdn: OnceLock::new(),
            schemas: crate::schema::SchemaSet::default(),
            shared: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Number of files that could not be read or parsed.
    pub fn unloadable(&self) -> usize {
        self.load_issues
            .iter()
            .filter(|i| i.is_unloadable())
            .count()
    }

    /// Use `schemas` (from `--crds`) plus the CRDs among the resources for schema validation.
    pub fn set_schemas(&mut self, mut schemas: crate::schema::SchemaSet) {
        for crd in self.of_kind(Kind::CustomResourceDefinition) {
            schemas.add_crd(&crd.root);
        }
        self.schemas = schemas;
    }

    /// An analysis that several rules read (one Istio analyzer reports several codes): computed
    /// by the first rule that asks, on any thread, and shared with the others. Keyed by type, so
    /// each analysis has its own type.
    pub fn shared<T: std::any::Any + Send + Sync>(&self, compute: impl FnOnce() -> T) -> Arc<T> {
        let cell = {
            let mut map = self
                .shared
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(std::any::TypeId::of::<T>()).or_default().clone()
        };
        let value = cell
            .get_or_init(|| Arc::new(compute()) as Arc<dyn std::any::Any + Send + Sync>)
            .clone();
        match value.downcast::<T>() {
            Ok(value) => value,
            // The cell is keyed by `TypeId::of::<T>()`, so it always holds a `T`.
            Err(_) => unreachable!("shared analysis cell holds another type"),
        }
    }

    /// CRD schemas by apiVersion and kind.
    pub fn schemas(&self) -> &crate::schema::SchemaSet {
        &self.schemas
    }

    /// Resources of one kind, in input order.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        let ids = self.by_kind.get(&kind).map(Vec::as_slice).unwrap_or(&[]);
        ids.iter().enumerate().map(move |(n, &i)| {
            self.prefetch_ahead(ids, n);
            &self.resources[i]
        })
    }

    /// Ask the CPU for what a walk over `ids` reads first of the resources after `ids[n]`, while
    /// it reads `ids[n]`: each rule walks every resource of a kind, and once the trees outgrow
    /// the last-level cache (a 100k-resource run) every step down a tree waits on memory. Four
    /// steps, each reading only what an earlier one brought in: the resource 12 ahead, its root
    /// mapping 8 ahead, its `spec` and `metadata` 4 ahead, the collections under `spec` 2 ahead.
    /// A narrower net (the `spec` entry and `spec` only) wastes fewer fetches in cachegrind's
    /// count but saved half as much of the rules' time as this one in interleaved runs.
    fn prefetch_ahead(&self, ids: &[usize], n: usize) {
        if let Some(&i) = ids.get(n + 12) {
            prefetch_index(&self.resources, i);
        }
        if let Some(root) = ids
            .get(n + 8)
            .and_then(|&i| self.resources.get(i))
            .and_then(|r| r.root.as_map())
        {
            prefetch_lines(root);
        }
        if let Some(r) = ids.get(n + 4).and_then(|&i| self.resources.get(i)) {
            for node in [r.spec(), r.metadata()].into_iter().flatten() {
                prefetch_node(node);
            }
        }
        if let Some(spec) = ids
            .get(n + 2)
            .and_then(|&i| self.resources.get(i))
            .and_then(|r| r.spec())
        {
            for (_, value) in spec.as_map().unwrap_or(&[]) {
                prefetch_node(value);
            }
        }
    }

    /// A resource by kind, namespace and name (namespace empty for cluster-scoped kinds).
    pub fn find(&self, kind: Kind, ns: &str, name: &str) -> Option<&Resource> {
        self.by_name
            .get((kind, ns, name), |id| name_key(&self.resources[id]))
            .map(|id| &self.resources[id])
    }

    /// Whether the input has a resource of any of `kinds` (assumed defaults do not count).
    pub fn input_has_any(&self, kinds: &[Kind]) -> bool {
        kinds.iter().any(|k| self.input_kinds.contains(k))
    }

    /// Whether the input has a resource of `kind` in namespace `ns`: the input models that
    /// namespace's objects of this kind, so one it lacks is missing rather than kept elsewhere.
    pub fn input_has_in(&self, kind: Kind, ns: &str) -> bool {
        self.of_kind(kind).any(|r| !r.assumed && r.ns == ns)
    }

    /// Namespaces the analysed set touches (of namespaced resources and Namespace objects); the
    /// unknown namespace of objects that name none is not among them.
    pub fn namespaces(&self) -> &BTreeSet<String> {
        &self.namespaces
    }

    pub fn cluster_domain(&self) -> &str {
        &self.options.cluster_domain
    }

    /// The mesh root namespace: MeshConfig `rootNamespace` if a mesh config was given, else the option.
    pub fn root_namespace(&self) -> &str {
        if self.mesh.file.is_some() {
            self.mesh.root_namespace()
        } else {
            &self.options.root_namespace
        }
    }

    /// Istio's service host map (Services and ServiceEntry hosts with their visibility).
    pub fn hosts(&self) -> &HostRegistry {
        self.hosts.get_or_init(|| build_host_registry(self))
    }

    /// Kubernetes Services by FQDN (`name.ns.svc.<domain>`).
    pub fn services_by_fqdn(&self) -> &FastMap<String, Vec<usize>> {
        self.services_by_fqdn.get_or_init(|| {
            let mut map: FastMap<String, Vec<usize>> = FastMap::default();
            for s in self.of_kind(Kind::Service) {
                map.entry(format!("{}.{}.svc.{}", s.name, s.ns, self.cluster_domain()))
                    .or_default()
                    .push(s.id);
            }
            map
        })
    }

    /// Pods and pod templates with their labels, indexed by namespace and label (built once).
    pub fn workload_index(&self) -> &WorkloadIndex {
        self.workloads
            .get_or_init(|| WorkloadIndex::new(&self.resources))
    }

    /// Pods and pod templates with their labels, in input order.
    pub fn workloads(&self) -> &[Workload] {
        self.workload_index().all()
    }

    /// Workloads in `ns` (every namespace when `None`) that `selector` matches, in input order.
    pub fn select_workloads<'w, 's>(
        &'w self,
        ns: Option<&'s str>,
        selector: &'s Selector,
    ) -> impl Iterator<Item = &'w Workload> + use<'w, 's> {
        self.workload_index().select(ns, selector)
    }
}

/// Istio's default ingress gateway (a gateway Pod labelled `istio: ingressgateway` and the Service
/// `istio-ingressgateway` in the root namespace), which `istioctl analyze` assumes when it reads
/// files only. Its ports cover both conventions of Gateway listeners: the Service ports (80, 443)
/// and the unprivileged container ports current installs target (8080, 8443). Input resources of
/// the same kind, namespace and name win.
const ISTIO_DEFAULTS: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-assumed
  namespace: ROOT_NS
  labels: {istio: ingressgateway, app: istio-ingressgateway}
spec:
  containers:
  - name: istio-proxy
    image: auto
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: ROOT_NS
  labels: {istio: ingressgateway, app: istio-ingressgateway}
spec:
  selector: {istio: ingressgateway}
  ports:
  - {name: http2, port: 80, targetPort: 80, protocol: TCP}
  - {name: https, port: 443, targetPort: 443, protocol: TCP}
  - {name: http2-unprivileged, port: 8080, targetPort: 8080, protocol: TCP}
  - {name: https-unprivileged, port: 8443, targetPort: 8443, protocol: TCP}
  - {name: tcp, port: 31400, targetPort: 31400, protocol: TCP}
  - {name: tls, port: 15443, targetPort: 15443, protocol: TCP}
";

fn add_istio_defaults(resources: &mut Vec<Resource>, root_namespace: &str) {
    let text = ISTIO_DEFAULTS.replace("ROOT_NS", root_namespace);
    let file = Arc::new(mspack_yaml::SourceFile::new("<istio defaults>", text));
    let parsed = mspack_yaml::parse_file(file.clone(), &mspack_yaml::Limits::default());
    for document in parsed.documents {
        let Ok(mut r) = read_resource(&file, document.index, document.root, None, true) else {
            continue;
        };
        if resources
            .iter()
            .any(|x| x.kind == r.kind && x.ns == r.ns && x.name == r.name)
        {
            continue;
        }
        r.id = resources.len();
        resources.push(r);
    }
}

/// Read the resource at `root`, document `document` of `file`: its identity, its kind, and the
/// namespace it lives in (`default_ns` when it names none; empty for cluster-scoped kinds). Its
/// `id` is left for the caller to set. A malformed identity gives the root back with the reason.
fn read_resource(
    file: &Arc<mspack_yaml::SourceFile>,
    document: usize,
    root: Node,
    default_ns: Option<&str>,
    assumed: bool,
) -> Result<Resource, (Node, String)> {
    let (api_version, kind_name, name, namespace) = match read_identity(&root) {
        Ok(identity) => identity,
        Err(message) => return Err((root, message)),
    };
    let (group, version) = split_api_version(&api_version);
    let kind = Kind::classify(group, &kind_name);
    let ns = if kind.is_cluster_scoped() {
        CompactString::default()
    } else {
        CompactString::from(namespace.as_deref().or(default_ns).unwrap_or_default())
    };
    Ok(Resource {
        id: 0,
        file: file.clone(),
        document,
        group: group.into(),
        version: version.into(),
        kind,
        kind_name: kind_name.into(),
        name: name.into(),
        namespace: namespace.map(CompactString::from),
        ns,
        located: crate::resource::Located::find(&root),
        root,
        assumed,
        api_version: api_version.into(),
    })
}

/// What one loaded file holds: its resources, what could not be read as one, and its documents
/// that are mappings but not Kubernetes objects.
struct FileRead {
    resources: Vec<Resource>,
    issues: Vec<LoadIssue>,
    other_documents: Vec<(Arc<SourceFile>, Node)>,
}

/// Read one loaded file. `namespace` is set by a `kustomization.yaml` that lists the file: it
/// overrides the namespace of every object.
fn read_file_resources(
    file: ParsedFile,
    options: &LintOptions,
    namespace: Option<&str>,
) -> FileRead {
    let mut issues = Vec::new();
    let mut resources = Vec::new();
    let mut other_documents = Vec::new();
    for warning in file.warnings {
        issues.push(LoadIssue::YamlWarning {
            file: file.source.clone(),
            error: warning,
        });
    }
    if let Some(error) = file.error {
        issues.push(LoadIssue::Unparsed {
            file: file.source.clone(),
            error,
        });
    }
    let default_ns = options.default_namespace.as_deref();
    for document in file.documents {
        let items = match classify_document(document.root) {
            DocumentShape::NotAResource(root) => {
                if root.as_map().is_some() {
                    other_documents.push((file.source.clone(), root));
                }
                continue;
            }
            DocumentShape::Invalid { node, message } => {
                issues.push(invalid_resource(&file.source, &node, message));
                continue;
            }
            DocumentShape::Resources(items) => items,
        };
        for root in items {
            match read_resource(&file.source, document.index, root, default_ns, false) {
                Err((root, message)) => issues.push(invalid_resource(&file.source, &root, message)),
                Ok(mut r) => {
                    if let Some(ns) = namespace
                        && !r.kind.is_cluster_scoped()
                    {
                        r.ns = ns.into();
                    }
                    let excluded = options.excluded_namespaces.iter().any(|n| *n == r.ns)
                        || (r.kind == Kind::Namespace
                            && options.excluded_namespaces.iter().any(|n| *n == r.name));
                    if !excluded {
                        resources.push(r);
                    }
                }
            }
        }
    }
    FileRead {
        resources,
        issues,
        other_documents,
    }
}

fn invalid_resource(file: &Arc<SourceFile>, node: &Node, message: String) -> LoadIssue {
    LoadIssue::InvalidResource {
        file: file.clone(),
        span: node.span,
        message,
    }
}

/// Keep the last definition of each object (by API group, kind, namespace and name, as the API
/// server identifies it); each earlier one that differs from it becomes a
/// [`LoadIssue::Duplicate`] (an identical copy is dropped silently).
fn drop_duplicates(resources: Vec<Resource>, issues: &mut Vec<LoadIssue>) -> Vec<Resource> {
    let identity = |i: usize| {
        let r = &resources[i];
        (
            r.group.as_str(),
            r.kind_name.as_str(),
            r.ns.as_str(),
            r.name.as_str(),
        )
    };
    let mut last = IdTable::with_capacity(resources.len());
    let mut named = 0;
    for (i, r) in resources.iter().enumerate() {
        if !r.name.is_empty() {
            last.insert(i, identity, true);
            named += 1;
        }
    }
    if last.len() == named {
        return resources;
    }
    let mut keep = vec![true; resources.len()];
    let mut kept_at = vec![usize::MAX; resources.len()];
    let mut differs = vec![false; resources.len()];
    for (i, r) in resources.iter().enumerate() {
        if r.name.is_empty() {
            continue;
        }
        let Some(winner) = last.get(identity(i), identity) else {
            continue;
        };
        if winner != i {
            keep[i] = false;
            kept_at[i] = winner;
            differs[i] = !same_content(&r.root, &resources[winner].root);
        }
    }
    // Ids of the kept resources once the dropped ones are gone.
    let mut new_id = vec![0; resources.len()];
    let mut next = 0;
    for (i, k) in keep.iter().enumerate() {
        new_id[i] = next;
        if *k {
            next += 1;
        }
    }
    let mut kept = Vec::with_capacity(next);
    for (i, r) in resources.into_iter().enumerate() {
        if keep[i] {
            kept.push(r);
        } else if differs[i] {
            issues.push(LoadIssue::Duplicate {
                file: r.file.clone(),
                span: r.anchor().span,
                resource: r.display_name(),
                kept: new_id[kept_at[i]],
            });
        }
    }
    kept
}

/// What [`Workspace::find`] looks a resource up by.
fn name_key(r: &Resource) -> (Kind, &str, &str) {
    (r.kind, r.ns.as_str(), r.name.as_str())
}

/// Whether two trees say the same thing (positions aside): an identical copy of an object (the
/// same Namespace in two bundles) is merged silently.
fn same_content(a: &Node, b: &Node) -> bool {
    use mspack_yaml::Value;
    match (&a.value, &b.value) {
        (Value::Scalar(x), Value::Scalar(y)) => x.text == y.text && x.is_string() == y.is_string(),
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_content(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same_content(ka, kb) && same_content(va, vb))
        }
        _ => false,
    }
}

/// `kustomization.yaml` files of the input with a `namespace:`: kustomize sets that namespace on
/// every object of the files its `resources:` lists.
struct Kustomizations {
    /// (path of a listed file, namespace)
    files: HashMap<std::path::PathBuf, String>,
}

impl Kustomizations {
    fn find(files: &[ParsedFile]) -> Kustomizations {
        let mut listed = HashMap::new();
        for file in files {
            let path = std::path::Path::new(&file.source.path);
            let is_kustomization = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                matches!(
                    n,
                    "kustomization.yaml" | "kustomization.yml" | "Kustomization"
                )
            });
            if !is_kustomization {
                continue;
            }
            let dir = path.parent().unwrap_or(std::path::Path::new(""));
            for document in &file.documents {
                let Some(ns) = document.root.get("namespace").and_then(Node::as_str) else {
                    continue;
                };
                for entry in document
                    .root
                    .get("resources")
                    .into_iter()
                    .flat_map(Node::items)
                {
                    if let Some(entry) = entry.as_str() {
                        listed.insert(normalise(&dir.join(entry)), ns.to_string());
                    }
                }
            }
        }
        Kustomizations { files: listed }
    }

    fn namespace_of(&self, path: &str) -> Option<&str> {
        if self.files.is_empty() {
            return None;
        }
        self.files
            .get(&normalise(std::path::Path::new(path)))
            .map(String::as_str)
    }
}

/// A path without `.` components (`./a/./b.yaml` and `a/b.yaml` are the same file).
fn normalise(path: &std::path::Path) -> std::path::PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn read_ports(ports: Option<&Node>) -> Vec<ServicePort> {
    ports
        .into_iter()
        .flat_map(Node::items)
        .map(|p| ServicePort {
            number: p
                .get("port")
                .or_else(|| p.get("number"))
                .and_then(Node::as_i64),
            name: p
                .get("name")
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_string(),
            protocol: p
                .get("protocol")
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

fn build_host_registry(ws: &Workspace) -> HostRegistry {
    let domain = ws.cluster_domain().to_string();
    let mut reg = HostRegistry::default();
    for se in ws.of_kind(Kind::ServiceEntry) {
        let export_to = se.export_to().unwrap_or_default();
        let ports = read_ports(se.spec_at(&["ports"]));
        for host in se.spec_at(&["hosts"]).into_iter().flat_map(Node::items) {
            let Some(host) = host.as_str() else { continue };
            let fqdn = to_fqdn(&se.ns, host, &domain);
            let idx = reg.services.len();
            reg.services.push(MeshService {
                resource: se.id,
                fqdn: fqdn.to_string(),
                ports: ports.clone(),
            });
            if export_to.is_empty() || export_to.contains(&"*") {
                reg.insert("*", &fqdn, idx);
                continue;
            }
            for scope in &export_to {
                let scope = if *scope == "." { se.ns.as_str() } else { scope };
                reg.insert(scope, &fqdn, idx);
            }
        }
    }
    for svc in ws.of_kind(Kind::Service) {
        let fqdn = to_fqdn(&svc.ns, &svc.name, &domain);
        let idx = reg.services.len();
        reg.services.push(MeshService {
            resource: svc.id,
            fqdn: fqdn.to_string(),
            ports: read_ports(svc.spec_at(&["ports"])),
        });
        match svc.annotation("networking.istio.io/exportTo") {
            None | Some("") => reg.insert("*", &fqdn, idx),
            Some(list) => {
                for scope in list.split(',').map(str::trim) {
                    let scope = if scope == "." { svc.ns.as_str() } else { scope };
                    reg.insert(scope, &fqdn, idx);
                }
            }
        }
    }
    reg
}

/// Prefetch the entries or items of a collection node.
fn prefetch_node(node: &Node) {
    match &node.value {
        Value::Map(entries) => prefetch_lines(entries),
        Value::Seq(items) => prefetch_lines(items),
        Value::Scalar(_) => {}
    }
}

/// Prefetch every cache line of a slice (at most the first 8: a long mapping is read key by key
/// anyway, and its start is what a lookup needs first).
fn prefetch_lines<T>(items: &[T]) {
    let per_line = (64 / std::mem::size_of::<T>().max(1)).max(1);
    for index in (0..items.len()).step_by(per_line).take(8) {
        prefetch_index(items, index);
    }
}

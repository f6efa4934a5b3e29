#!/usr/bin/env python3
"""Generate the `mspack graph` benchmark corpus: SERVICES services (Deployment + Service each) over
20 namespaces, 10 services a file, in groups of 10 that call each other as real systems do: a
front service calls 3 mid services by URL in env, each mid calls 2 back services (`host:port`)
and one shared service of another namespace (FQDN), mids publish events that backs consume
(events.mspack.io annotations) and backs hold a Postgres URL. Chains stay 3 hops deep.
Usage: graph_corpus.py OUT_DIR SERVICES."""
import os
import sys

out, count = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)


def ns_of(i):
    return f"team-{(i // 10) % 20}"


def service(i):
    ns, name, g, role = ns_of(i), f"svc-{i}", i // 10, i % 10
    env = [("OTEL_SERVICE_NAME", name)]
    annotations = {}
    if role == 0:  # front: three mids
        env += [(f"MID{k}_URL", f"http://svc-{g * 10 + k}.{ns}:8080/api") for k in (1, 2, 3)]
    elif role in (1, 2, 3):  # mid: two backs, one shared service elsewhere
        backs = [g * 10 + 4 + (role - 1) * 2, g * 10 + 5 + (role - 1) * 2]
        env += [(f"BACK{k}_ADDR", f"svc-{b}:9090") for k, b in enumerate(backs)]
        shared = ((g + 7) % max(1, count // 10)) * 10 + 9
        if shared < count and shared // 10 != g:
            env.append(("SHARED_URL", f"http://svc-{shared}.{ns_of(shared)}.svc.cluster.local:8080"))
        annotations = {"events.mspack.io/publishes": f"group{g}.mid{role}", "events.mspack.io/outbox": "true"}
    elif role < 9:  # back: its own database, consumes the mids' events
        env.append(("DATABASE_URL", f"postgres://app@pg-{i}.{ns}:5432/app"))
        annotations = {"events.mspack.io/consumes": f"group{g}.*"}
    env_yaml = "".join(f"\n        - {{name: {k}, value: \"{v}\"}}" for k, v in env)
    ann_yaml = "".join(f"\n    {k}: \"{v}\"" for k, v in annotations.items())
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector: {{app: {name}}}
  ports:
  - {{name: http, port: 8080}}
  - {{name: grpc, port: 9090}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}{"" if not ann_yaml else chr(10) + "  annotations:" + ann_yaml}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}, version: v1}}
    spec:
      containers:
      - name: app
        image: registry.example.com/{ns}/{name}:1.{i % 7}.0
        ports:
        - {{containerPort: 8080, name: http}}
        - {{containerPort: 9090, name: grpc}}
        env:{env_yaml}
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
          limits: {{cpu: "1", memory: 512Mi}}
        readinessProbe:
          httpGet: {{path: /ready, port: http}}
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
"""


per_file = 10
for start in range(0, count, per_file):
    with open(os.path.join(out, f"g{start // per_file:05}.yaml"), "w") as f:
        f.write("---\n".join(service(i) for i in range(start, min(count, start + per_file))))

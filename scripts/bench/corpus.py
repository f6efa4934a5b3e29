#!/usr/bin/env python3
"""Generate the lint benchmark corpus: groups of Service, Deployment, VirtualService and
DestinationRule over 20 namespaces, 25 resources a file (a tenth of the hosts short, so rules
report). Usage: corpus.py OUT_DIR RESOURCES [--one-file]."""
import os
import sys

out, count = sys.argv[1], int(sys.argv[2])
one_file = "--one-file" in sys.argv[3:]
os.makedirs(out, exist_ok=True)

def group(i):
    ns = f"team-{i % 20}"
    name = f"svc-{i}"
    host = name if i % 10 == 0 else f"{name}.{ns}.svc.cluster.local"
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}, team: "{ns}"}}
spec:
  selector: {{app: {name}}}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: grpc-api
    port: 9090
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}, version: v1}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}, version: v1}}
  template:
    metadata:
      labels: {{app: {name}, version: v1}}
      annotations:
        sidecar.istio.io/inject: "true"
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: {name}
      containers:
      - name: app
        image: registry.example.com/{ns}/{name}:1.{i % 7}.0
        ports:
        - {{containerPort: 8080, name: http}}
        - {{containerPort: 9090, name: grpc-api}}
        env:
        - {{name: OTEL_SERVICE_NAME, value: {name}}}
        - {{name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector.observability:4317"}}
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
          limits: {{cpu: "1", memory: 512Mi}}
        readinessProbe:
          httpGet: {{path: /ready, port: http}}
          periodSeconds: 5
        livenessProbe:
          httpGet: {{path: /health, port: http}}
          initialDelaySeconds: 10
        securityContext:
          runAsNonRoot: true
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: {ns}
spec:
  hosts:
  - {host}
  exportTo: ["."]
  http:
  - match:
    - headers:
        x-canary: {{exact: "true"}}
    route:
    - destination: {{host: {host}, subset: v1, port: {{number: 80}}}}
    timeout: 5s
    retries: {{attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset,connect-failure"}}
  - route:
    - destination: {{host: {host}, subset: v1, port: {{number: 80}}}}
      weight: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: {host}
  exportTo: ["."]
  trafficPolicy:
    connectionPool:
      tcp: {{maxConnections: 100}}
      http: {{http1MaxPendingRequests: 10, maxRequestsPerConnection: 10}}
    outlierDetection: {{consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 30s}}
    tls: {{mode: ISTIO_MUTUAL}}
  subsets:
  - name: v1
    labels: {{version: v1}}
"""

groups = count // 4
per_file = 6  # groups a file: 24 resources, about 4,000 files for 100k resources
if one_file:
    with open(os.path.join(out, "all.yaml"), "w") as f:
        f.write("---\n".join(group(i) for i in range(groups)))
else:
    for start in range(0, groups, per_file):
        with open(os.path.join(out, f"f{start // per_file:05}.yaml"), "w") as f:
            f.write("---\n".join(group(i) for i in range(start, min(groups, start + per_file))))

// A PodSandboxConfig as a kubelet sends one, for the tests.

/** name's pod in the namespace testns, with labels, annotations, DNS and the usual namespace modes; extra overrides. */
export function sandboxConfig(name: string, extra: object = {}): any {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'testns', attempt: 1 },
    hostname: `${name}-host`,
    labels: { app: name, tier: 'test' },
    annotations: { 'example.com/note': `pod ${name}` },
    dns_config: { servers: ['10.96.0.10'], searches: ['testns.svc.cluster.local'], options: ['ndots:5'] },
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  };
}

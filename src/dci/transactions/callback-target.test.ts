import { createServer, type Server } from 'node:http';
import { type AddressInfo, getDefaultAutoSelectFamily, setDefaultAutoSelectFamily } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackAgent, CallbackTargetRejection, checkCallbackUrl, FORBIDDEN_TARGET, isPublicAddress } from './callback-target.js';

describe('isPublicAddress', () => {
  it.each([
    '8.8.8.8', '1.1.1.1', '93.184.216.34', '100.63.255.255', '100.128.0.1', '172.15.255.255', '172.32.0.1', '192.167.255.255', '198.20.0.1',
    '223.255.255.255', '2606:4700:4700::1111', '2001:4860:4860::8888', '[2a00:1450:4001::200e]', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1',
    '9.9.9.9', '11.0.0.1', '126.255.255.255', '128.0.0.1', '169.253.255.255', '169.255.0.1', '192.0.1.1', '192.88.98.1', '198.17.255.255',
    '198.51.99.1', '203.0.112.1', '2620:fe::fe', '2001:200::1', '3fff:1000::1', '2a03:2880:f10f:83:face:b00c:0:25de', '::FFFF:1.1.1.1',
  ])('%s is public', (ip) => expect(isPublicAddress(ip)).toBe(true));

  it.each([
    '0.0.0.0', '0.1.2.3', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.255', '127.0.0.1', '127.255.255.254', '169.254.169.254', '172.16.0.1',
    '172.31.255.255', '192.0.0.8', '192.0.2.1', '192.88.99.1', '192.168.0.1', '198.18.0.1', '198.19.255.255', '198.51.100.7', '203.0.113.9', '224.0.0.1',
    '239.255.255.250', '240.0.0.1', '255.255.255.255', '::', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1',
    '::ffff:a9fe:a9fe', '::127.0.0.1', '64:ff9b::7f00:1', '64:ff9b::a00:1', '2002:7f00:1::', '2002:c0a8:101::1', 'fc00::1', 'fd12:3456::1', 'fe80::1',
    'fe80::1%eth0', 'fec0::1', 'ff02::1', '2001:db8::1', '100::1', 'not-an-ip', '', '1.2.3', '::ffff:999.1.1.1',
    '::8.8.8.8', '::ffff:0:7f00:1', '64:ff9b:1::a00:1', '2001::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:2::1', '3fff::1', 'FE80::1',
    '::ffff:192.168.1.1', '::ffff:100.64.0.1', '64:ff9b::169.254.169.254', '2002:a9fe:a9fe::', '0177.0.0.1', '2130706433', '127.1', 'localhost',
  ])('%s is not public', (ip) => expect(isPublicAddress(ip)).toBe(false));
});

describe('checkCallbackUrl', () => {
  const anyPublic = { origins: ['*'], allowPrivateNetwork: false };

  it.each(['file:///etc/passwd', 'gopher://example.org/_x', 'ftp://example.org/', 'data:text/plain,x', 'javascript:alert(1)', 'ws://example.org/', 'dict://example.org:11211/'])(
    'refuses the scheme of %s',
    (url) => expect(() => checkCallbackUrl(url, anyPublic)).toThrow(/scheme/),
  );

  it('refuses credentials, fragments and non-URLs', () => {
    expect(() => checkCallbackUrl('https://user:pass@example.org/cb', anyPublic)).toThrow(/credentials/);
    expect(() => checkCallbackUrl('https://token@example.org/cb', anyPublic)).toThrow(/credentials/);
    expect(() => checkCallbackUrl('https://example.org/cb#x', anyPublic)).toThrow(/fragment/);
    expect(() => checkCallbackUrl('/registry/on-search', anyPublic)).toThrow(CallbackTargetRejection);
  });

  it('normalises IP literals before checking them', () => {
    for (const host of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1', '[::ffff:127.0.0.1]', '[0:0:0:0:0:0:0:1]', '0xa9fea9fe']) {
      expect(() => checkCallbackUrl(`http://${host}/cb`, anyPublic), host).toThrow(/not a public address/);
    }
    expect(checkCallbackUrl('http://8.8.8.8/cb', anyPublic).hostname).toBe('8.8.8.8');
  });

  it('refuses names that can only be private, unless the partner may use private networks', () => {
    for (const host of ['localhost', 'LOCALHOST', 'a.localhost', 'printer.local', 'db.internal', 'intranet']) {
      expect(() => checkCallbackUrl(`http://${host}/cb`, anyPublic), host).toThrow(/not a public address/);
    }
    expect(checkCallbackUrl('http://localhost:8081/cb', { origins: ['*'], allowPrivateNetwork: true }).port).toBe('8081');
  });

  it('matches registered origins exactly: scheme, host and port; a wildcard stands for one label', () => {
    const policy = { origins: ['https://spmis.example.org', 'https://*.gov.example', 'http://127.0.0.1:8081'], allowPrivateNetwork: true };
    expect(checkCallbackUrl('https://spmis.example.org/dci/on-search', policy).pathname).toBe('/dci/on-search');
    expect(checkCallbackUrl('https://spmis.example.org:443/x', policy).host).toBe('spmis.example.org');
    expect(checkCallbackUrl('https://welfare.gov.example/x', policy).hostname).toBe('welfare.gov.example');
    expect(checkCallbackUrl('http://127.0.0.1:8081/x', policy).port).toBe('8081');
    for (const url of [
      'http://spmis.example.org/x',
      'https://spmis.example.org:8443/x',
      'https://evil-spmis.example.org/x',
      'https://spmis.example.org.evil.net/x',
      'https://gov.example/x',
      'https://a.b.gov.example/x',
      'http://127.0.0.1:8082/x',
    ]) {
      expect(() => checkCallbackUrl(url, policy), url).toThrow(/not a registered callback origin/);
    }
  });
});

describe('callbackAgent', () => {
  let canary: Server;
  let redirector: Server;
  let hits = 0;
  let canaryPort = 0;
  let redirectorPort = 0;

  beforeAll(async () => {
    canary = createServer((_req, res) => {
      hits++;
      res.end('{}');
    });
    redirector = createServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${canaryPort}/stolen` });
      res.end();
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    canaryPort = (canary.address() as AddressInfo).port;
    redirectorPort = (redirector.address() as AddressInfo).port;
  });
  afterAll(async () => {
    canary.closeAllConnections();
    redirector.closeAllConnections();
    await new Promise((r) => canary.close(r));
    await new Promise((r) => redirector.close(r));
  });

  /** A resolver that answers loopback for some names, as a hosts file or a rebinding DNS server would. */
  const rebinding = async (hostname: string) =>
    ['rebind.example.org', 'localhost'].includes(hostname)
      ? [{ address: '127.0.0.1', family: 4 as const }]
      : hostname === 'mixed.example.org'
        ? [{ address: '93.184.216.34', family: 4 as const }, { address: '::1', family: 6 as const }]
        : [{ address: '93.184.216.34', family: 4 as const }];

  const failure = (url: string, agent: ReturnType<typeof callbackAgent>) =>
    request(url, { method: 'POST', body: '{}', dispatcher: agent }).then(
      () => undefined,
      (e: { code?: string; cause?: { code?: string } }) => e.code ?? e.cause?.code,
    );

  it('refuses to connect to a private address, however it is named, and never reaches the canary', async () => {
    const injected = callbackAgent({ allowPrivateNetwork: false, connectTimeoutMs: 1000, lookup: rebinding });
    const system = callbackAgent({ allowPrivateNetwork: false, connectTimeoutMs: 1000 });
    try {
      for (const host of ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]', '[::1]', '2130706433', '0x7f.1', 'rebind.example.org', 'mixed.example.org']) {
        expect(await failure(`http://${host}:${canaryPort}/`, injected), host).toBe(FORBIDDEN_TARGET);
      }
      for (const host of ['127.0.0.1', 'localhost', '[::ffff:7f00:1]', '2130706433']) {
        expect(await failure(`http://${host}:${canaryPort}/`, system), `${host} (system resolver)`).toBe(FORBIDDEN_TARGET);
      }
      expect(await failure(`https://rebind.example.org:${canaryPort}/`, injected)).toBe(FORBIDDEN_TARGET);
      expect(hits).toBe(0);
    } finally {
      await injected.close();
      await system.close();
    }
  });

  it('connects when private networks are allowed, and does not follow redirects', async () => {
    hits = 0;
    const agent = callbackAgent({ allowPrivateNetwork: true, connectTimeoutMs: 1000, lookup: rebinding });
    try {
      const ok = await request(`http://rebind.example.org:${canaryPort}/`, { method: 'POST', body: '{}', dispatcher: agent });
      await ok.body.text();
      expect(ok.statusCode).toBe(200);
      expect(hits).toBe(1);
      const redirected = await request(`http://127.0.0.1:${redirectorPort}/`, { method: 'POST', body: '{}', dispatcher: agent });
      await redirected.body.text();
      expect(redirected.statusCode).toBe(302);
      expect(redirected.headers.location).toBe(`http://127.0.0.1:${canaryPort}/stolen`);
      expect(hits).toBe(1);
    } finally {
      await agent.close();
    }
  });

  it('dials the checked addresses, trying the next when one fails, with or without family auto-selection', async () => {
    hits = 0;
    const calls: string[] = [];
    const twoAddresses = async (hostname: string) => {
      calls.push(hostname);
      return [{ address: '::1', family: 6 as const }, { address: '127.0.0.1', family: 4 as const }];
    };
    const agent = callbackAgent({ allowPrivateNetwork: true, connectTimeoutMs: 1000, lookup: twoAddresses });
    try {
      const res = await request(`http://two.example.org:${canaryPort}/`, { method: 'POST', body: '{}', dispatcher: agent });
      await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(hits).toBe(1);
      expect(calls).toEqual(['two.example.org']);
    } finally {
      await agent.close();
    }
    const autoSelect = getDefaultAutoSelectFamily();
    setDefaultAutoSelectFamily(false); // net then asks the lookup for one address
    const single = callbackAgent({ allowPrivateNetwork: true, connectTimeoutMs: 1000, lookup: rebinding });
    try {
      const res = await request(`http://rebind.example.org:${canaryPort}/`, { method: 'POST', body: '{}', dispatcher: single });
      await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(hits).toBe(2);
    } finally {
      setDefaultAutoSelectFamily(autoSelect);
      await single.close();
    }
  });

  it('keeps the host name for TLS while dialling the resolved address', async () => {
    let sni: string | undefined;
    const tlsServer = createTlsServer({
      SNICallback: (name, cb) => {
        sni = name;
        cb(new Error('no certificate in this test'));
      },
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    const agent = callbackAgent({ allowPrivateNetwork: true, connectTimeoutMs: 1000, lookup: rebinding });
    try {
      await failure(`https://rebind.example.org:${(tlsServer.address() as AddressInfo).port}/`, agent);
      expect(sni).toBe('rebind.example.org');
    } finally {
      await agent.close();
      await new Promise((r) => tlsServer.close(r));
    }
  });

  it('counts a resolver that never answers against the connect timeout', async () => {
    const agent = callbackAgent({ allowPrivateNetwork: false, connectTimeoutMs: 200, lookup: () => new Promise(() => {}) });
    try {
      const started = Date.now();
      expect(await failure('http://slow.example.org/', agent)).toBe('UND_ERR_CONNECT_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await agent.close();
    }
  });
});

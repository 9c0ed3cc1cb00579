// The OpenKCM console (issue 14 §3): views over the admin API, one per section, chosen by the
// URL fragment (#/tenants, #/tenants/<name>, #/identities, #/roles, #/audit). Sign-in is the
// browser's client certificate (mutual TLS on the admin listener) or, when the server has it,
// single sign-on (/auth/*). The console decides nothing: each button is one admin API call,
// and what the API refuses is shown with its message and hint.
import {
  act, api, badge, clearError, confirmAct, download, field, fill, fmtTime, h, options, say, seg, showError, table,
} from './lib.js';

const main = document.getElementById('main');
/** The signed-in caller (GET /v1/whoami), set once the person continues past sign-in. */
let caller = null;

function setView(title, ...content) {
  document.title = `${title} — OpenKCM console`;
  fill(main, h('h1', { text: title }), ...content);
}

function markNav(view) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ------------------------------------------------------------------ sign-in

/**
 * What /auth/me says about single sign-on (the sso routes, issue 14 §4). A server without
 * them answers 404: then only client certificates sign in.
 */
async function ssoState() {
  try {
    // { sso: { configured, issuer?, login?, logout? }, authenticated, via?, role?, … }
    const me = await api('GET', '/auth/me');
    const sso = me.sso ?? {};
    return { configured: sso.configured === true, login: sso.login ?? '/auth/login', logout: sso.logout ?? '/auth/logout', issuer: sso.issuer, me };
  } catch {
    return { configured: false, me: null };
  }
}

/** Known once signed in: how, so that an SSO session can be ended from the header. */
let session = { configured: false, me: null };

async function signIn() {
  document.getElementById('nav').hidden = true;
  fill(document.getElementById('who'));
  markNav('');
  const [who, sso] = await Promise.all([api('GET', '/v1/whoami').then((r) => r.caller, (e) => e), ssoState()]);
  session = sso;
  const viaSso = Boolean(sso.me && sso.me.authenticated && sso.me.via !== 'certificate');
  const blocks = [];
  if (!(who instanceof Error)) {
    blocks.push(h('section', { class: 'card', 'aria-labelledby': 'cert-h' },
      h('h2', { id: 'cert-h', text: viaSso ? 'Signed in' : 'Client certificate' }),
      viaSso
        ? h('p', {}, 'Signed in through single sign-on as ', h('strong', { text: sso.me.name ?? sso.me.subject ?? who.id }),
          ` — role ${who.role}`, who.tenant ? `, tenant ${who.tenant}` : '', '.')
        : h('p', {}, 'Your browser presented the certificate of identity ', h('strong', { class: 'mono', text: who.id }),
          ` — role ${who.role}`, who.tenant ? `, tenant ${who.tenant}` : '', '.'),
      h('p', { class: 'mono muted', text: who.subject || `sha256:${who.fingerprint}` }),
      h('div', { class: 'actions' }, h('button', {
        class: 'primary', id: 'signin-continue', type: 'button',
        onclick: () => { sessionStorage.setItem('openkcm.console', who.id); enter(who); },
      }, `Continue as ${who.id}`))));
  } else {
    blocks.push(h('section', { class: 'card', 'aria-labelledby': 'cert-h' },
      h('h2', { id: 'cert-h', text: 'Client certificate' }),
      h('p', {}, 'No accepted administrator certificate: ', who.message),
      who.hint ? h('p', { class: 'hint', text: who.hint }) : null,
      h('p', { class: 'hint', text: 'Import the admin certificate and key (a PKCS#12 file, see README "The web console") into this browser, then reload.' })));
  }
  if (sso.configured && !viaSso) {
    // The login route is this listener's own path (sso.login), so the link stays on this origin;
    // the IdP's page comes after the server's redirect.
    blocks.push(h('section', { class: 'card', 'aria-labelledby': 'sso-h' },
      h('h2', { id: 'sso-h', text: 'Single sign-on' }),
      h('p', {}, h('a', { id: 'sso-login', href: `${sso.login}?return=${encodeURIComponent('/console/')}`, text: 'Log in with SSO' })),
      h('p', { class: 'hint', text: `Signs in through your organisation's identity provider${sso.issuer ? ` (${sso.issuer})` : ''}.` })));
  }
  setView('Sign in', ...blocks);
}

function enter(who) {
  caller = who;
  document.getElementById('nav').hidden = false;
  const whoBox = document.getElementById('who');
  fill(whoBox, `Signed in as ${who.id} (${who.role}${who.tenant && who.role === 'tenant-admin' ? ` of ${who.tenant}` : ''})`);
  const me = session.me;
  if (session.configured && me && me.authenticated && me.via !== 'certificate') {
    // An SSO session ends here and on this server (POST /auth/logout); a certificate cannot be
    // signed out of by a page — the browser holds it.
    const out = h('button', { type: 'button', id: 'logout', class: 'logout', text: 'Log out' });
    out.onclick = () => act(out, async () => {
      const r = await api('POST', session.logout);
      sessionStorage.removeItem('openkcm.console');
      caller = null;
      history.replaceState(null, '', location.pathname);
      await signIn();
      say('Logged out of the OpenKCM console.');
      if (r.endSessionUrl) {
        // The provider's own session may live on: offer to end it too (a navigation the person
        // chooses, not a request of this page).
        main.append(h('p', {}, h('a', { href: r.endSessionUrl, text: 'Also sign out at the identity provider' })));
      }
    });
    whoBox.append(' ', out);
  }
  // The auditor reads the audit trail only (issue 16 §2): that is where it starts.
  const home = who.role === 'auditor' ? '#/audit' : '#/overview';
  if (location.hash === '' || location.hash === '#/signin') location.hash = home;
  else route();
}

// ------------------------------------------------------------------ overview

async function overview() {
  markNav('overview');
  const s = await api('GET', '/v1/status');
  const sealed = s.tenants.filter((t) => t.sealed === true || t.state !== 'active');
  setView('Overview',
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'srv-h' },
        h('h2', { id: 'srv-h', text: 'Server' }),
        h('dl', { class: 'facts' },
          Object.entries({
            Product: s.server.product, Version: s.server.version, Plane: s.plane, 'Key hierarchy': s.hierarchy,
            'KMIP endpoint': s.kmip ? `${s.kmip.host}:${s.kmip.port}` : '—', 'Default L1': s.server.l1,
            'Uptime (s)': s.server.uptimeSeconds, CA: s.ca ? s.ca.subject : 'none (certificates cannot be issued)',
          }).filter(([, v]) => v !== undefined).map(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v) })]))),
      h('section', { class: 'card', 'aria-labelledby': 'ten-h' },
        h('h2', { id: 'ten-h', text: 'Tenants' }),
        h('p', {}, `${s.tenants.length} tenant(s), `, sealed.length === 0 ? badge('ok', 'all unsealed') : badge('warn', `${sealed.length} sealed or killed`)),
        h('p', {}, h('a', { href: '#/tenants', text: 'Manage tenants' })),
        s.audit && s.audit.lastSeq !== null ? h('p', { class: 'muted' }, `Audit trail: ${s.audit.lastSeq} records, head `, h('span', { class: 'mono', text: (s.audit.head ?? '').slice(0, 16) })) : null)),
    s.exporters && s.exporters.length > 0 ? h('section', { class: 'card' }, h('h2', { text: 'SIEM exporters' }),
      table('SIEM exporters', ['Name', 'Connected', 'Delivered', 'Waiting', 'Failures', 'Last error'],
        s.exporters.map((x) => [x.name, x.connected ? badge('ok', 'yes') : badge('bad', 'no'), x.delivered, x.undelivered, x.failures, x.lastError ?? '—']))) : null);
}

// ------------------------------------------------------------------ tenants

function stateBadge(t) {
  if (t.state === 'killed') return badge('bad', 'killed');
  // The governance state only; whether its keys are in memory now is a column of its own.
  if (t.state === 'sealed') return badge('warn', 'sealed');
  return badge('ok', t.state);
}

async function tenants() {
  markNav('tenants');
  const { tenants: list } = await api('GET', '/v1/tenants');
  const nameInput = field('tenant-name', 'Tenant name', { required: true, pattern: '[a-z0-9][a-z0-9._\\-]{0,62}', 'aria-describedby': 'tenant-name-help' });
  const form = h('form', {
    class: 'inline', 'aria-labelledby': 'create-tenant-h',
    onsubmit: (ev) => {
      ev.preventDefault();
      const btn = form.querySelector('button');
      act(btn, async () => {
        const name = form.querySelector('#tenant-name').value.trim();
        await api('POST', '/v1/tenants', { name });
        say(`Tenant ${name} created.`);
        await tenants();
      });
    },
  }, nameInput, h('button', { type: 'submit', class: 'primary', text: 'Create tenant' }));
  setView('Tenants',
    h('section', { class: 'card', 'aria-labelledby': 'tenants-h' },
      h('h2', { id: 'tenants-h', text: 'All tenants' }),
      table('Tenants and their seal state', ['Tenant', 'State', 'Keys in memory', 'L1', 'Regions', 'Created'],
        list.map((t) => [
          h('a', { href: `#/tenants/${seg(t.id)}`, text: t.id }), stateBadge(t),
          t.sealed === null ? '—' : t.sealed ? badge('warn', 'sealed') : badge('ok', 'unsealed'),
          t.l1 ?? 'default', t.regions.join(', ') || '—', fmtTime(t.createdAt),
        ]))),
    caller.role === 'admin' ? h('section', { class: 'card', 'aria-labelledby': 'create-tenant-h' },
      h('h2', { id: 'create-tenant-h', text: 'Create a tenant' }), form,
      h('p', { id: 'tenant-name-help', class: 'hint', text: 'Lower-case letters, digits, ".", "_" and "-"; at most 63 characters.' })) : null);
}

async function tenantView(t) {
  markNav('tenants');
  const [show, l3, identities, roles, keys] = await Promise.all([
    api('GET', `/v1/tenants/${seg(t)}`),
    api('GET', `/v1/tenants/${seg(t)}/l3`).catch((e) => e),
    api('GET', `/v1/identities?tenant=${seg(t)}`),
    api('GET', '/v1/roles'),
    api('GET', `/v1/tenants/${seg(t)}/keys?limit=200`).catch((e) => e),
  ]);
  const tenant = show.tenant;
  const hier = show.hierarchy;
  const reload = () => tenantView(t);

  // Seal state and the three acts on it.
  const sealBtn = h('button', { type: 'button', id: 'tenant-seal', text: 'Seal' });
  const unsealBtn = h('button', { type: 'button', id: 'tenant-unseal', text: 'Unseal' });
  const killBtn = h('button', { type: 'button', id: 'tenant-kill', class: 'danger', text: 'Kill switch…' });
  sealBtn.onclick = async () => {
    const ok = await confirmAct({ title: `Seal tenant ${t}?`, text: `The keys of tenant ${t} are erased from memory and every KMIP request of ${t} is refused until it is unsealed.`, ok: `Seal ${t}`, reason: true });
    if (!ok) return;
    await act(sealBtn, async () => {
      await api('POST', `/v1/tenants/${seg(t)}/seal`, ok.reason ? { reason: ok.reason } : {});
      say(`Tenant ${t} sealed.`);
      await reload();
    });
  };
  unsealBtn.onclick = () => act(unsealBtn, async () => {
    await api('POST', `/v1/tenants/${seg(t)}/unseal`, {});
    say(`Tenant ${t} unsealed.`);
    await reload();
  });
  killBtn.onclick = async () => {
    const ok = await confirmAct({
      title: `Kill tenant ${t}?`,
      text: `The kill switch seals tenant ${t} at once and removes its L1 pointer: every key of ${t} becomes unusable, and unseal cannot bring it back (only a new pointer to a still-valid L1 can).`,
      ok: `Kill tenant ${t}`, typed: t, reason: true,
    });
    if (!ok) return;
    await act(killBtn, async () => {
      await api('POST', `/v1/tenants/${seg(t)}/kill`, ok.reason ? { reason: ok.reason } : {});
      say(`Tenant ${t} killed.`);
      await reload();
    });
  };
  const killed = tenant.state === 'killed';
  const statusCard = h('section', { class: 'card', 'aria-labelledby': 'state-h' },
    h('h2', { id: 'state-h', text: 'State' }),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Governance state' }), h('dd', {}, stateBadge(tenant)),
      h('dt', { text: 'Keys in memory' }), h('dd', {}, hier === null ? '—' : hier.sealed ? badge('warn', `sealed${hier.reason ? `: ${hier.reason}` : ''}`) : badge('ok', 'unsealed')),
      h('dt', { text: 'Regions' }), h('dd', { text: tenant.regions.join(', ') || 'all (none pinned)' }),
      h('dt', { text: 'Identities' }), h('dd', { text: String(show.identities) })),
    h('div', { class: 'actions' }, killed ? null : sealBtn, killed ? null : unsealBtn, killed ? null : killBtn),
    killed ? h('p', { class: 'hint', text: `Tenant ${t} was killed. Setting a pointer to a still-valid L1 (kmipctl l1 set) is the only way back.` }) : null);

  setView(`Tenant ${t}`, statusCard,
    servicesCard(t, show.services, l3, reload),
    l1Card(t, show.l1),
    identitiesCard(t, show.services, roles.roles, identities.identities, reload),
    grantsCard(t, show.services, show.grants, reload),
    keysCard(t, keys));
}

function servicesCard(t, services, l3, reload) {
  const versions = l3 instanceof Error ? null : l3.versions;
  const rows = services.map((s) => {
    const mine = (versions ?? []).filter((v) => v.service === s.id).sort((a, b) => a.version - b.version);
    const current = mine.find((v) => v.current);
    const rotate = h('button', { type: 'button', 'aria-label': `Rotate the L3 key of service ${s.id}`, text: 'Rotate L3' });
    rotate.onclick = () => act(rotate, async () => {
      const r = await api('POST', `/v1/tenants/${seg(t)}/services/${seg(s.id)}/rotate`, {});
      say(r.l3Version !== null && r.l3Version !== undefined ? `Service ${s.id}: L3 is now at version ${r.l3Version}.` : `Service ${s.id}: rotation published to the cores.`);
      await reload();
    });
    return [s.id, current ? `v${current.version}` : versions === null ? '—' : 'none yet',
      mine.length ? mine.map((v) => `v${v.version} (L2 v${v.l2Version}, ${fmtTime(v.createdAt)})`).join('; ') : '—', rotate];
  });
  const form = h('form', { class: 'inline', 'aria-label': `Create a service in tenant ${t}` },
    field('service-name', 'Service name', { required: true }), h('button', { type: 'submit', text: 'Create service' }));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    act(form.querySelector('button'), async () => {
      const name = form.querySelector('#service-name').value.trim();
      await api('POST', `/v1/tenants/${seg(t)}/services`, { name });
      say(`Service ${name} created in tenant ${t}.`);
      await reload();
    });
  };
  return h('section', { class: 'card', 'aria-labelledby': 'svc-h' },
    h('h2', { id: 'svc-h', text: 'Services and L3 versions' }),
    table(`Services of ${t}`, ['Service', 'Current L3', 'L3 versions', 'Action'], rows),
    l3 instanceof Error ? h('p', { class: 'hint', text: `L3 versions: ${l3.message}` }) : null,
    form);
}

function l1Card(t, pointer) {
  const out = h('div', { id: 'l1-result', 'aria-live': 'polite' });
  const check = h('button', { type: 'button', id: 'l1-check', text: 'Check L1 status' });
  check.onclick = () => act(check, async () => {
    const r = await api('POST', `/v1/tenants/${seg(t)}/l1/check`, {});
    if (r.status) {
      const kind = r.status.state === 'active' ? 'ok' : r.status.state === 'unreachable' ? 'warn' : 'bad';
      fill(out, h('p', {}, 'L1 status: ', badge(kind, r.status.state), ' ', r.status.detail ?? '', r.sealedNow ? ' — the tenant was sealed now.' : ''),
        r.l1 ? h('p', { class: 'mono muted', text: `${r.l1.provider} ${r.l1.keyRef}` }) : null);
    } else {
      fill(out, table('What the cores last reported', ['Node', 'Region', 'L1 status', 'State', 'At'],
        (r.nodes ?? []).map((n) => [n.node, n.region, n.l1Status ? n.l1Status.state ?? String(n.l1Status) : '—', n.state ?? '—', fmtTime(n.at)])));
    }
    if (r.sealedNow) say(`L1 of ${t} is ${r.status.state}: tenant ${t} sealed.`);
  });
  return h('section', { class: 'card', 'aria-labelledby': 'l1-h' },
    h('h2', { id: 'l1-h', text: 'L1 pointer' }),
    pointer === null
      ? h('p', {}, 'No pointer of its own: the server\'s default L1 wraps this tenant\'s L2.')
      : h('dl', { class: 'facts' },
        h('dt', { text: 'Provider' }), h('dd', { text: pointer.provider }),
        h('dt', { text: 'State' }), h('dd', {}, pointer.state === 'active' ? badge('ok', 'active') : badge('bad', pointer.state)),
        h('dt', { text: 'Configuration' }), h('dd', { class: 'mono', text: JSON.stringify(pointer.config) }),
        h('dt', { text: 'Updated' }), h('dd', { text: fmtTime(pointer.updatedAt) })),
    pointer !== null && pointer.state === 'active' ? h('div', { class: 'actions' }, check) : null,
    out);
}

function identitiesCard(t, services, roles, identities, reload) {
  const tableBox = h('div', {});
  const rowsOf = (list) => list.map((i) => {
    const revoke = h('button', { type: 'button', 'aria-label': `Revoke identity ${i.id}`, text: 'Revoke', disabled: i.revoked });
    revoke.onclick = async () => {
      const ok = await confirmAct({ title: `Revoke identity ${i.id}?`, text: `Certificates of identity ${i.id} (tenant ${i.tenant}, service ${i.service}) are refused from now on, on KMIP and on the admin API.`, ok: 'Revoke' });
      if (!ok) return;
      await act(revoke, async () => {
        await api('POST', '/v1/certificates/revoke', { id: i.id });
        say(`Identity ${i.id} revoked.`);
        await reload();
      });
    };
    return [h('span', { class: 'mono', text: i.id }), i.service, i.role, matchText(i.match), i.certSerial ?? '—',
      i.revoked ? badge('bad', 'revoked') : badge('ok', 'active'), revoke];
  });
  const showIds = (list) => fill(tableBox, table(`Identities of ${t}`, ['Identity', 'Service', 'Role', 'Matched by', 'Serial', 'State', 'Action'], rowsOf(list)));
  showIds(identities);
  const svc = field('cert-service', 'Service', { required: true }, 'select');
  options(svc.querySelector('select'), services.map((s) => s.id));
  const role = field('cert-role', 'Role', { required: true }, 'select');
  // Roles a certificate of this tenant may hold (the API refuses the rest anyway).
  options(role.querySelector('select'), roles.map((r) => r.name).filter((n) => n !== 'core'), 'app');
  const issued = h('div', { id: 'issued', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline', 'aria-labelledby': 'issue-h' },
    svc, role, field('cert-cn', 'Common name (optional)', { maxlength: 64 }),
    field('cert-days', 'Valid for days (optional)', { type: 'number', min: 1 }),
    h('button', { type: 'submit', class: 'primary', text: 'Issue certificate' }));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    act(form.querySelector('button[type=submit]'), async () => {
      const body = { tenant: t, service: form.querySelector('#cert-service').value, role: form.querySelector('#cert-role').value };
      const cn = form.querySelector('#cert-cn').value.trim();
      const days = form.querySelector('#cert-days').value;
      if (cn) body.commonName = cn;
      if (days) body.days = Number(days);
      const r = await api('POST', '/v1/certificates', body);
      showIssued(issued, r);
      // Only the table is redrawn: the issued key pair must stay on the page until downloaded.
      showIds((await api('GET', `/v1/identities?tenant=${seg(t)}`)).identities);
      say(`Certificate issued for identity ${r.identity.id}. Download the key pair now: it is shown once.`);
    });
  };
  return h('section', { class: 'card', 'aria-labelledby': 'ids-h' },
    h('h2', { id: 'ids-h', text: 'Identities and certificates' }),
    tableBox,
    h('h3', { id: 'issue-h', text: 'Issue a client certificate' }),
    services.length === 0 ? h('p', { class: 'hint', text: 'Create a service first.' }) : form,
    issued);
}

function matchText(m) {
  if (m.kind === 'fingerprint') return `sha256 ${m.sha256.slice(0, 16)}…`;
  if (m.kind === 'subject') return `subject ${m.pattern}`;
  return `SAN URI ${m.uri}`;
}

/**
 * The answer of `cert issue` holds the only copy of the private key (the server keeps none).
 * It is offered for download once, then dropped from this page's memory.
 */
function showIssued(box, r) {
  let secret = `${r.privateKeyPem.trimEnd()}\n${r.certificate.pem.trimEnd()}\n`;
  const base = (r.identity.id || 'client').replace(/[^A-Za-z0-9._-]/g, '_');
  const keyBtn = h('button', { type: 'button', class: 'primary', id: 'download-keypair', text: 'Download key pair (once)' });
  const note = h('p', { class: 'hint', text: 'The file holds the private key and the certificate (PEM). OpenKCM keeps no copy of the key: after this download it is gone from this page too.' });
  keyBtn.onclick = () => {
    if (secret === null) return;
    download(`${base}.keypair.pem`, secret);
    secret = null;
    r.privateKeyPem = '';
    keyBtn.disabled = true;
    keyBtn.textContent = 'Key pair downloaded';
    note.textContent = 'Downloaded. The private key is no longer held anywhere but in the file you saved.';
  };
  const caBtn = h('button', { type: 'button', id: 'download-ca', text: 'Download CA certificate' });
  caBtn.onclick = () => download('openkcm-ca.pem', r.caCertificatePem);
  const certBtn = h('button', { type: 'button', id: 'download-cert', text: 'Download certificate only' });
  certBtn.onclick = () => download(`${base}.crt.pem`, r.certificate.pem);
  fill(box, h('div', { class: 'issued', role: 'region', 'aria-label': 'Issued certificate' },
    h('h3', { text: `Issued: ${r.identity.id}` }),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Subject' }), h('dd', { class: 'mono', text: r.certificate.subject }),
      h('dt', { text: 'Serial' }), h('dd', { class: 'mono', text: r.certificate.serial }),
      h('dt', { text: 'Valid until' }), h('dd', { text: fmtTime(r.certificate.notAfter) }),
      r.kmip ? [h('dt', { text: 'KMIP endpoint' }), h('dd', { class: 'mono', text: `${r.kmip.host}:${r.kmip.port}` })] : null),
    h('div', { class: 'actions' }, keyBtn, certBtn, caBtn), note));
}

function grantsCard(t, services, grants, reload) {
  const rows = grants.map((g) => {
    const rm = h('button', { type: 'button', 'aria-label': `Remove the grant from ${g.fromService} to ${g.toService}`, text: 'Remove' });
    rm.onclick = () => act(rm, async () => {
      await api('DELETE', `/v1/tenants/${seg(t)}/grants/${seg(g.fromService)}/${seg(g.toService)}`);
      say(`Grant from ${g.fromService} to ${g.toService} removed.`);
      await reload();
    });
    return [g.fromService, g.toService, g.operations.join(' '), rm];
  });
  const from = field('grant-from', 'From service', { required: true }, 'select');
  const to = field('grant-to', 'To service (whose objects)', { required: true }, 'select');
  options(from.querySelector('select'), services.map((s) => s.id));
  options(to.querySelector('select'), services.map((s) => s.id));
  const form = h('form', { class: 'inline', 'aria-label': `Add a grant in tenant ${t}` },
    from, to, field('grant-ops', 'Operations (space-separated KMIP names)', { required: true, placeholder: 'Get Encrypt Decrypt' }),
    h('button', { type: 'submit', text: 'Add grant' }));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    act(form.querySelector('button'), async () => {
      const operations = form.querySelector('#grant-ops').value.split(/[\s,]+/).filter(Boolean);
      await api('POST', `/v1/tenants/${seg(t)}/grants`, { fromService: form.querySelector('#grant-from').value, toService: form.querySelector('#grant-to').value, operations });
      say('Grant added.');
      await reload();
    });
  };
  return h('section', { class: 'card', 'aria-labelledby': 'grants-h' },
    h('h2', { id: 'grants-h', text: 'Grants between services' }),
    table(`Grants of ${t}`, ['From service', 'To service', 'Operations', 'Action'], rows),
    services.length >= 2 ? form : h('p', { class: 'hint', text: 'A grant needs two services of the tenant.' }));
}

function keysCard(t, keys) {
  const body = keys instanceof Error
    ? h('p', { class: 'hint', text: keys.message })
    : [table(`Keys of ${t}`, ['Unique identifier', 'Service', 'Type', 'State', 'Name', 'Algorithm', 'Length', 'Usage', 'Groups', 'Created'],
      keys.objects.map((o) => [h('span', { class: 'mono', text: o.uid }), o.service, o.objectType, o.state, o.names.join(', ') || '—',
        o.algorithm ?? '—', o.length ?? '—', o.usage.join(' ') || '—', o.objectGroups.join(', ') || '—', fmtTime(o.initialDate)])),
    keys.more ? h('p', { class: 'hint', text: 'The newest 200 are shown.' }) : null];
  return h('section', { class: 'card', 'aria-labelledby': 'keys-h' },
    h('h2', { id: 'keys-h', text: 'Keys (metadata only)' }),
    h('p', { class: 'hint', text: 'Descriptions only: key material never leaves the server.' }),
    body);
}

// ------------------------------------------------------------------ identities (all tenants)

async function identitiesView() {
  markNav('identities');
  const { identities } = await api('GET', '/v1/identities');
  const rows = identities.map((i) => {
    const revoke = h('button', { type: 'button', 'aria-label': `Revoke identity ${i.id}`, text: 'Revoke', disabled: i.revoked || i.id === caller.id });
    revoke.onclick = async () => {
      const ok = await confirmAct({ title: `Revoke identity ${i.id}?`, text: `Certificates of identity ${i.id} (tenant ${i.tenant}, service ${i.service}, role ${i.role}) are refused from now on.`, ok: 'Revoke' });
      if (!ok) return;
      await act(revoke, async () => {
        await api('POST', '/v1/certificates/revoke', { id: i.id });
        say(`Identity ${i.id} revoked.`);
        await identitiesView();
      });
    };
    return [h('span', { class: 'mono', text: i.id }), h('a', { href: `#/tenants/${seg(i.tenant)}`, text: i.tenant }), i.service, i.role,
      matchText(i.match), i.certSerial ?? '—', i.revoked ? badge('bad', 'revoked') : badge('ok', 'active'), fmtTime(i.createdAt), revoke];
  });
  setView('Identities',
    h('section', { class: 'card', 'aria-labelledby': 'all-ids-h' },
      h('h2', { id: 'all-ids-h', text: 'Client identities of every tenant' }),
      h('p', { class: 'hint', text: 'Certificates are issued on a tenant\'s page (Tenants → a tenant → Identities and certificates).' }),
      table('Identities', ['Identity', 'Tenant', 'Service', 'Role', 'Matched by', 'Serial', 'State', 'Created', 'Action'], rows)));
}

// ------------------------------------------------------------------ roles

async function rolesView() {
  markNav('roles');
  const { roles } = await api('GET', '/v1/roles');
  const form = h('form', { class: 'inline', 'aria-labelledby': 'new-role-h' },
    field('role-name', 'Role name', { required: true }),
    field('role-ops', 'Operations (space-separated KMIP names, or *)', { required: true, placeholder: 'Get Encrypt Decrypt' }),
    field('role-types', 'Object types (optional)', { placeholder: 'SymmetricKey' }),
    field('role-groups', 'Object groups (optional)'),
    h('button', { type: 'submit', class: 'primary', text: 'Create role' }));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    act(form.querySelector('button'), async () => {
      const list = (id) => form.querySelector(id).value.split(/[\s,]+/).filter(Boolean);
      const body = { name: form.querySelector('#role-name').value.trim(), operations: list('#role-ops') };
      if (list('#role-types').length) body.objectTypes = list('#role-types');
      if (list('#role-groups').length) body.objectGroups = list('#role-groups');
      await api('POST', '/v1/roles', body);
      say(`Role ${body.name} created.`);
      await rolesView();
    });
  };
  setView('Roles',
    h('section', { class: 'card', 'aria-labelledby': 'roles-h' },
      h('h2', { id: 'roles-h', text: 'Roles' }),
      table('Roles: the KMIP operations each allows', ['Role', 'Operations', 'Object types', 'Object groups', 'Kind'],
        roles.map((r) => [r.name, r.operations.join(' ') || '(none)', (r.objectTypes ?? []).join(' ') || 'any', (r.objectGroups ?? []).join(' ') || 'any',
          r.builtIn ? badge('plain', 'built in') : badge('ok', 'custom')]))),
    caller.role === 'admin' ? h('section', { class: 'card', 'aria-labelledby': 'new-role-h' }, h('h2', { id: 'new-role-h', text: 'Create a role' }), form) : null,
    h('p', { class: 'hint', text: 'Grants between the services of one tenant are on each tenant\'s page.' }));
}

// ------------------------------------------------------------------ audit

async function auditView() {
  markNav('audit');
  const badgeBox = h('p', { id: 'chain-badge', 'aria-live': 'polite' }, badge('plain', 'verifying the chain…'));
  const n = field('audit-n', 'Newest records to search', {}, 'select');
  options(n.querySelector('select'), ['100', '1000', '10000'], '1000');
  const q = field('audit-q', 'Search (any field)', { type: 'search', placeholder: 'tenant, operation, identity, detail…' });
  const kind = field('audit-kind', 'Kind', {}, 'select');
  options(kind.querySelector('select'), ['any', 'kmip', 'admin', 'seal', 'unseal', 'kill', 'auth-failure'], 'any');
  const result = field('audit-result', 'Result', {}, 'select');
  options(result.querySelector('select'), ['any', 'success', 'failure'], 'any');
  const out = h('div', { id: 'audit-records' });
  let records = [];
  const render = () => {
    const text = q.querySelector('input').value.trim().toLowerCase();
    const k = kind.querySelector('select').value;
    const r = result.querySelector('select').value;
    const hits = records.filter((x) => (k === 'any' || x.kind === k) && (r === 'any' || x.result === r)
      && (text === '' || [x.seq, x.time, x.kind, x.identity, x.tenant, x.service, x.operation, x.objectId, x.result, x.reason, x.detail]
        .some((v) => v !== null && v !== undefined && String(v).toLowerCase().includes(text))));
    fill(out, h('p', { class: 'muted', role: 'status', text: `${hits.length} of ${records.length} records match.` }),
      table('Audit records, newest first', ['Seq', 'Time', 'Kind', 'Result', 'Identity', 'Tenant', 'Service', 'Operation', 'Object', 'Detail'],
        hits.slice().reverse().slice(0, 500).map((x) => [x.seq, fmtTime(x.time), x.kind,
          x.result === 'success' ? badge('ok', 'success') : badge('bad', x.reason ? `failure: ${x.reason}` : 'failure'),
          x.identity ?? '—', x.tenant ?? '—', x.service ?? '—', x.operation ?? '—', x.objectId ?? '—', x.detail ?? '']),
        'no record matches'),
      hits.length > 500 ? h('p', { class: 'hint', text: 'The newest 500 matches are shown; narrow the search.' }) : null);
  };
  const load = async () => {
    records = (await api('GET', `/v1/audit/tail?n=${n.querySelector('select').value}`)).records;
    render();
  };
  const form = h('form', { class: 'inline', role: 'search', 'aria-label': 'Search the audit trail' }, n, q, kind, result,
    h('button', { type: 'submit', text: 'Search' }));
  form.onsubmit = (ev) => { ev.preventDefault(); act(form.querySelector('button'), load); };
  q.querySelector('input').oninput = render;
  kind.querySelector('select').onchange = render;
  result.querySelector('select').onchange = render;
  const verifyBtn = h('button', { type: 'button', id: 'audit-verify', text: 'Verify again' });
  const verify = async () => {
    const { result: v } = await api('GET', '/v1/audit/verify');
    fill(badgeBox, v.ok
      ? badge('ok', `Chain verified: ${v.count} record${v.count === 1 ? '' : 's'}${v.scope === 'tenant' ? ` of tenant ${v.tenant}` : ''}`)
      : badge('bad', `Chain BROKEN at record ${v.seq}: ${v.problem}`),
    v.ok && v.head ? h('span', { class: 'mono muted' }, ' head ', String(v.head).slice(0, 16), '…') : h('span', { class: 'muted' }, v.detail ? ` ${v.detail}` : ''));
  };
  verifyBtn.onclick = () => act(verifyBtn, verify);
  setView('Audit trail',
    h('section', { class: 'card', 'aria-labelledby': 'chain-h' }, h('h2', { id: 'chain-h', text: 'Hash chain' }), badgeBox, verifyBtn),
    h('section', { class: 'card', 'aria-labelledby': 'records-h' }, h('h2', { id: 'records-h', text: 'Records' }), form, out));
  await Promise.all([verify().catch((e) => fill(badgeBox, badge('bad', `cannot verify: ${e.message}`))), load()]);
}

// ------------------------------------------------------------------ routing

async function route() {
  if (!caller) return signIn();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  try {
    if (parts[0] === 'tenants' && parts[1]) await tenantView(parts[1]);
    else if (parts[0] === 'tenants') await tenants();
    else if (parts[0] === 'identities') await identitiesView();
    else if (parts[0] === 'roles') await rolesView();
    else if (parts[0] === 'audit') await auditView();
    else await overview();
    main.focus({ preventScroll: true });
  } catch (e) {
    // Nothing of the previous view stays under an address it does not belong to.
    setView('Not shown', h('p', {}, h('a', { href: '#/overview', text: 'Back to the overview' })));
    showError(e);
    if (e.status === 401 || e.status === 403) {
      // Refused: a view beyond this role (shown above), or the certificate or session is no
      // longer accepted at all (revoked, logged out) — then back to sign-in.
      const still = await api('GET', '/v1/whoami').then(() => true, () => false);
      if (!still) {
        caller = null;
        sessionStorage.removeItem('openkcm.console');
        await signIn();
        showError(e);
      }
    }
  }
}

window.addEventListener('hashchange', () => {
  clearError();
  document.getElementById('status').textContent = '';
  route();
});

async function start() {
  // A reload within this tab keeps the person past the sign-in view while the API still
  // accepts the same identity; anything else starts at sign-in.
  const remembered = sessionStorage.getItem('openkcm.console');
  if (remembered) {
    try {
      session = await ssoState();
      const { caller: who } = await api('GET', '/v1/whoami');
      if (who.id === remembered) return enter(who);
    } catch { /* fall through to sign-in */ }
  }
  await signIn();
}

start().catch(showError);

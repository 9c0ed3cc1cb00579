// Test-only name resolution for the Azure Key Vault test endpoint (azure-keyvault-endpoint.ts):
// `*.vault.azure.net`, `*.managedhsm.azure.net` and `login.microsoftonline.com` resolve to
// 127.0.0.1, as a hosts-file entry would. The SDK needs real Key Vault host names: its
// challenge check refuses a token resource whose host the vault URL does not end with
// (@azure/keyvault-common, verifyChallengeResource), so 127.0.0.1 cannot be the vault URL.
// Imported by the test files, and given to child processes with `node --import`.
// Plain JavaScript so that it loads before any TypeScript loader.
import dns from 'node:dns';

const LOOPBACK = /(^|\.)(vault\.azure\.net|managedhsm\.azure\.net)$|^login\.microsoftonline\.com$/i;
const original = dns.lookup;

if (!original.openkcmAzureHosts) {
  const patched = function lookup(host, options, callback) {
    if (typeof options === 'function') {
      callback = options;
      options = {};
    }
    if (typeof host === 'string' && LOOPBACK.test(host)) {
      const all = typeof options === 'object' && options !== null && options.all === true;
      if (all) process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
      else process.nextTick(callback, null, '127.0.0.1', 4);
      return {};
    }
    return original.call(this, host, options, callback);
  };
  patched.openkcmAzureHosts = true;
  dns.lookup = patched;
}

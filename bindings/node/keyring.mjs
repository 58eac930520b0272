// The WIT `taskgate:filter/keyring` import with node:crypto: the component names a key and
// hands over the bytes a signature or a token MAC covers; the MAC is computed and compared here,
// so no secret ever enters the component's memory.
import { createHmac, timingSafeEqual } from 'node:crypto';

// SigV4 signing keys kept at most; past it the cache starts over.
const MAX_SIGNING_KEYS = 1024;

const hmac = (algorithm, key, data) => createHmac(algorithm, key).update(data).digest();

// Constant time for equal lengths; lengths are public.
const same = (expected, given) => expected.length === given.length && timingSafeEqual(expected, given);

/**
 * The keyring's three functions over `keys` (id -> { secret, account }) and `tokens`
 * ([{ secret: Uint8Array, account }], tried in order), as jco's instantiate takes an import.
 */
export function keyringImport(keys, tokens) {
    // A SigV4 signing key depends only on the key and the scope: derive it once per day.
    const signingKeys = new Map();
    function signingKey(id, secret, { date, region, service }) {
        const name = `${id}/${date}/${region}/${service}`;
        let key = signingKeys.get(name);
        if (!key) {
            key = hmac('sha256', `AWS4${secret}`, date);
            for (const part of [region, service, 'aws4_request']) key = hmac('sha256', key, part);
            if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.clear();
            signingKeys.set(name, key);
        }
        return key;
    }

    return {
        accessKeyAccount(id) {
            return keys.get(id)?.account;
        },
        // jco passes a WIT variant as { tag, val }.
        verifySignature(id, signing, message, mac) {
            const key = keys.get(id);
            if (!key) return false;
            let expected;
            switch (signing.tag) {
                case 'rpc-v1':
                    expected = hmac('sha1', `${key.secret}&`, message);
                    break;
                case 'acs3':
                    expected = hmac('sha256', key.secret, message);
                    break;
                case 'sigv4':
                    expected = hmac('sha256', signingKey(id, key.secret, signing.val), message);
                    break;
                default:
                    return false;
            }
            return same(expected, mac);
        },
        verifyTokenMac(message, mac) {
            if (tokens.length === 0) return { tag: 'unchecked' };
            let owner;
            // Every key is tried, so the time says nothing about which one matched.
            for (const { secret, account } of tokens) {
                if (same(hmac('sha1', secret, message), mac) && owner === undefined) owner = account;
            }
            return owner === undefined ? { tag: 'unmatched' } : { tag: 'verified', val: owner };
        },
    };
}

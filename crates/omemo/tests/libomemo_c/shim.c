/* Test-only harness: a libomemo-c (libsignal-protocol-c fork) device with in-memory stores and
 * an OpenSSL crypto provider, driven from Rust through a handful of plain C functions.
 * Built only with the `libomemo-c-interop` feature of tern-omemo. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <omemo/signal_protocol.h>
#include <omemo/key_helper.h>
#include <omemo/session_builder.h>
#include <omemo/session_cipher.h>
#include <omemo/session_pre_key.h>
#include <omemo/protocol.h>
#include <omemo/curve.h>
#include <omemo/ratchet.h>

#define SHIM_VERSION 3
#define MAX_KEYS 256
#define MAX_SESSIONS 256

/* ---- crypto provider (OpenSSL) ---- */

static int rnd(uint8_t *data, size_t len, void *u) { (void)u; return RAND_bytes(data, (int)len) == 1 ? 0 : SG_ERR_UNKNOWN; }

static int hmac_init(void **ctx, const uint8_t *key, size_t key_len, void *u) {
    (void)u;
    HMAC_CTX *c = HMAC_CTX_new();
    if (!c) return SG_ERR_NOMEM;
    if (HMAC_Init_ex(c, key, (int)key_len, EVP_sha256(), NULL) != 1) { HMAC_CTX_free(c); return SG_ERR_UNKNOWN; }
    *ctx = c;
    return 0;
}
static int hmac_update(void *ctx, const uint8_t *d, size_t n, void *u) { (void)u; return HMAC_Update(ctx, d, n) == 1 ? 0 : SG_ERR_UNKNOWN; }
static int hmac_final(void *ctx, signal_buffer **out, void *u) {
    (void)u;
    uint8_t md[EVP_MAX_MD_SIZE]; unsigned int len = 0;
    if (HMAC_Final(ctx, md, &len) != 1) return SG_ERR_UNKNOWN;
    *out = signal_buffer_create(md, len);
    return *out ? 0 : SG_ERR_NOMEM;
}
static void hmac_cleanup(void *ctx, void *u) { (void)u; HMAC_CTX_free(ctx); }

static int sha_init(void **ctx, void *u) {
    (void)u;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return SG_ERR_NOMEM;
    if (EVP_DigestInit_ex(c, EVP_sha512(), NULL) != 1) { EVP_MD_CTX_free(c); return SG_ERR_UNKNOWN; }
    *ctx = c;
    return 0;
}
static int sha_update(void *ctx, const uint8_t *d, size_t n, void *u) { (void)u; return EVP_DigestUpdate(ctx, d, n) == 1 ? 0 : SG_ERR_UNKNOWN; }
static int sha_final(void *ctx, signal_buffer **out, void *u) {
    (void)u;
    uint8_t md[EVP_MAX_MD_SIZE]; unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, md, &len) != 1) return SG_ERR_UNKNOWN;
    if (EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) != 1) return SG_ERR_UNKNOWN;
    *out = signal_buffer_create(md, len);
    return *out ? 0 : SG_ERR_NOMEM;
}
static void sha_cleanup(void *ctx, void *u) { (void)u; EVP_MD_CTX_free(ctx); }

static const EVP_CIPHER *pick(int cipher, size_t key_len) {
    if (cipher == SG_CIPHER_AES_CBC_PKCS5) {
        if (key_len == 16) return EVP_aes_128_cbc();
        if (key_len == 24) return EVP_aes_192_cbc();
        if (key_len == 32) return EVP_aes_256_cbc();
    } else if (cipher == SG_CIPHER_AES_CTR_NOPADDING) {
        if (key_len == 16) return EVP_aes_128_ctr();
        if (key_len == 24) return EVP_aes_192_ctr();
        if (key_len == 32) return EVP_aes_256_ctr();
    }
    return NULL;
}

static int aes_crypt(int enc, signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                 const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len) {
    const EVP_CIPHER *c = pick(cipher, key_len);
    if (!c || iv_len != 16) return SG_ERR_UNKNOWN;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return SG_ERR_NOMEM;
    uint8_t *buf = malloc(in_len + 32);
    int len = 0, fin = 0, rc = SG_ERR_UNKNOWN;
    if (buf && EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) == 1
        && EVP_CipherUpdate(ctx, buf, &len, in, (int)in_len) == 1
        && EVP_CipherFinal_ex(ctx, buf + len, &fin) == 1) {
        *output = signal_buffer_create(buf, (size_t)(len + fin));
        rc = *output ? 0 : SG_ERR_NOMEM;
    }
    free(buf);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
static int enc_f(signal_buffer **o, int c, const uint8_t *k, size_t kl, const uint8_t *iv, size_t ivl, const uint8_t *p, size_t pl, void *u) { (void)u; return aes_crypt(1, o, c, k, kl, iv, ivl, p, pl); }
static int dec_f(signal_buffer **o, int c, const uint8_t *k, size_t kl, const uint8_t *iv, size_t ivl, const uint8_t *p, size_t pl, void *u) { (void)u; return aes_crypt(0, o, c, k, kl, iv, ivl, p, pl); }

/* ---- in-memory stores ---- */

typedef struct { uint32_t id; signal_buffer *rec; } keyrec;
typedef struct { char name[128]; int32_t device; signal_buffer *rec; } sessrec;

typedef struct shim_peer {
    signal_context *ctx;
    signal_protocol_store_context *store;
    ratchet_identity_key_pair *identity;
    uint32_t registration_id;
    keyrec pre_keys[MAX_KEYS]; int n_pre_keys;
    keyrec signed_pre_keys[8]; int n_signed;
    sessrec sessions[MAX_SESSIONS]; int n_sessions;
} shim_peer;

static keyrec *find_key(keyrec *arr, int n, uint32_t id) {
    for (int i = 0; i < n; i++) if (arr[i].rec && arr[i].id == id) return &arr[i];
    return NULL;
}
static sessrec *find_sess(shim_peer *p, const signal_protocol_address *a) {
    for (int i = 0; i < p->n_sessions; i++)
        if (p->sessions[i].rec && p->sessions[i].device == a->device_id && strlen(p->sessions[i].name) == a->name_len
            && memcmp(p->sessions[i].name, a->name, a->name_len) == 0) return &p->sessions[i];
    return NULL;
}

static int s_load(signal_buffer **record, signal_buffer **user_record, const signal_protocol_address *a, void *u) {
    (void)user_record;
    sessrec *s = find_sess(u, a);
    if (!s) return 0;
    *record = signal_buffer_copy(s->rec);
    return 1;
}
static int s_subs(signal_int_list **sessions, const char *name, size_t name_len, void *u) { (void)sessions; (void)name; (void)name_len; (void)u; return 0; }
static int s_store(const signal_protocol_address *a, uint8_t *rec, size_t len, uint8_t *ur, size_t url, void *u) {
    (void)ur; (void)url;
    shim_peer *p = u;
    sessrec *s = find_sess(p, a);
    if (!s) {
        if (p->n_sessions >= MAX_SESSIONS || a->name_len >= sizeof(s->name)) return SG_ERR_NOMEM;
        s = &p->sessions[p->n_sessions++];
        memcpy(s->name, a->name, a->name_len); s->name[a->name_len] = 0;
        s->device = a->device_id;
    } else {
        signal_buffer_free(s->rec);
    }
    s->rec = signal_buffer_create(rec, len);
    return 0;
}
static int s_contains(const signal_protocol_address *a, void *u) { return find_sess(u, a) != NULL; }
static int s_delete(const signal_protocol_address *a, void *u) {
    sessrec *s = find_sess(u, a);
    if (s) { signal_buffer_free(s->rec); s->rec = NULL; return 1; }
    return 0;
}
static int s_delete_all(const char *n, size_t l, void *u) { (void)n; (void)l; (void)u; return 0; }

static int pk_load(signal_buffer **record, uint32_t id, void *u) {
    shim_peer *p = u; keyrec *k = find_key(p->pre_keys, p->n_pre_keys, id);
    if (!k) return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_copy(k->rec); return SG_SUCCESS;
}
static int pk_store(uint32_t id, uint8_t *rec, size_t len, void *u) {
    shim_peer *p = u;
    if (p->n_pre_keys >= MAX_KEYS) return SG_ERR_NOMEM;
    p->pre_keys[p->n_pre_keys].id = id;
    p->pre_keys[p->n_pre_keys++].rec = signal_buffer_create(rec, len);
    return 0;
}
static int pk_contains(uint32_t id, void *u) { shim_peer *p = u; return find_key(p->pre_keys, p->n_pre_keys, id) != NULL; }
static int pk_remove(uint32_t id, void *u) {
    shim_peer *p = u; keyrec *k = find_key(p->pre_keys, p->n_pre_keys, id);
    if (k) { signal_buffer_free(k->rec); k->rec = NULL; }
    return 0;
}
static int spk_load(signal_buffer **record, uint32_t id, void *u) {
    shim_peer *p = u; keyrec *k = find_key(p->signed_pre_keys, p->n_signed, id);
    if (!k) return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_copy(k->rec); return SG_SUCCESS;
}
static int spk_store(uint32_t id, uint8_t *rec, size_t len, void *u) {
    shim_peer *p = u;
    if (p->n_signed >= 8) return SG_ERR_NOMEM;
    p->signed_pre_keys[p->n_signed].id = id;
    p->signed_pre_keys[p->n_signed++].rec = signal_buffer_create(rec, len);
    return 0;
}
static int spk_contains(uint32_t id, void *u) { shim_peer *p = u; return find_key(p->signed_pre_keys, p->n_signed, id) != NULL; }
static int spk_remove(uint32_t id, void *u) { (void)id; (void)u; return 0; }

static int id_get_pair(signal_buffer **pub, signal_buffer **priv, void *u) {
    shim_peer *p = u;
    int rc = ec_public_key_serialize(pub, ratchet_identity_key_pair_get_public(p->identity));
    if (rc < 0) return rc;
    return ec_private_key_serialize(priv, ratchet_identity_key_pair_get_private(p->identity));
}
static int id_get_reg(void *u, uint32_t *reg) { *reg = ((shim_peer *)u)->registration_id; return 0; }
static int id_save(const signal_protocol_address *a, uint8_t *k, size_t l, void *u) { (void)a; (void)k; (void)l; (void)u; return 0; }
static int id_trusted(const signal_protocol_address *a, uint8_t *k, size_t l, void *u) { (void)a; (void)k; (void)l; (void)u; return 1; }

/* ---- the API used from Rust ---- */

shim_peer *shim_peer_new(uint32_t registration_id, uint32_t n_pre_keys) {
    shim_peer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->registration_id = registration_id;
    if (signal_context_create(&p->ctx, p) != 0) return NULL;
    signal_crypto_provider cp = {
        .random_func = rnd,
        .hmac_sha256_init_func = hmac_init, .hmac_sha256_update_func = hmac_update,
        .hmac_sha256_final_func = hmac_final, .hmac_sha256_cleanup_func = hmac_cleanup,
        .sha512_digest_init_func = sha_init, .sha512_digest_update_func = sha_update,
        .sha512_digest_final_func = sha_final, .sha512_digest_cleanup_func = sha_cleanup,
        .encrypt_func = enc_f, .decrypt_func = dec_f, .user_data = p,
    };
    if (signal_context_set_crypto_provider(p->ctx, &cp) != 0) return NULL;
    if (signal_protocol_store_context_create(&p->store, p->ctx) != 0) return NULL;
    signal_protocol_session_store ss = { s_load, s_subs, s_store, s_contains, s_delete, s_delete_all, NULL, p };
    signal_protocol_pre_key_store ps = { pk_load, pk_store, pk_contains, pk_remove, NULL, p };
    signal_protocol_signed_pre_key_store sps = { spk_load, spk_store, spk_contains, spk_remove, NULL, p };
    signal_protocol_identity_key_store is = { id_get_pair, id_get_reg, id_save, id_trusted, NULL, p };
    signal_protocol_store_context_set_session_store(p->store, &ss);
    signal_protocol_store_context_set_pre_key_store(p->store, &ps);
    signal_protocol_store_context_set_signed_pre_key_store(p->store, &sps);
    signal_protocol_store_context_set_identity_key_store(p->store, &is);

    if (signal_protocol_key_helper_generate_identity_key_pair(&p->identity, p->ctx) != 0) return NULL;
    signal_protocol_key_helper_pre_key_list_node *head = NULL;
    if (n_pre_keys > 0) {
        if (signal_protocol_key_helper_generate_pre_keys(&head, 1, n_pre_keys, p->ctx) != 0) return NULL;
        for (signal_protocol_key_helper_pre_key_list_node *n = head; n; n = signal_protocol_key_helper_key_list_next(n)) {
            session_pre_key *k = signal_protocol_key_helper_key_list_element(n);
            signal_buffer *b = NULL;
            if (session_pre_key_serialize(&b, k) != 0) return NULL;
            pk_store(session_pre_key_get_id(k), signal_buffer_data(b), signal_buffer_len(b), p);
            signal_buffer_free(b);
        }
        signal_protocol_key_helper_key_list_free(head);
    }
    session_signed_pre_key *spk = NULL;
    if (signal_protocol_key_helper_generate_signed_pre_key(&spk, p->identity, 1, 0, p->ctx) != 0) return NULL;
    signal_buffer *b = NULL;
    if (session_signed_pre_key_serialize(&b, spk) != 0) return NULL;
    spk_store(1, signal_buffer_data(b), signal_buffer_len(b), p);
    signal_buffer_free(b);
    SIGNAL_UNREF(spk);
    return p;
}

static int copy_pub(ec_public_key *k, uint8_t out[33]) {
    signal_buffer *b = NULL;
    int rc = ec_public_key_serialize(&b, k);
    if (rc < 0) return rc;
    if (signal_buffer_len(b) != 33) { signal_buffer_free(b); return SG_ERR_UNKNOWN; }
    memcpy(out, signal_buffer_data(b), 33);
    signal_buffer_free(b);
    return 0;
}

/* The device's bundle: identity key, signed pre-key 1 and its signature, and pre-key `pre_key_id`
 * (0 = none). Keys are 33 bytes, 0x05-prefixed. */
int shim_peer_bundle(shim_peer *p, uint32_t pre_key_id, uint8_t identity[33], uint8_t spk_out[33],
                     uint8_t sig[64], uint8_t pre_key[33]) {
    int rc = copy_pub(ratchet_identity_key_pair_get_public(p->identity), identity);
    if (rc < 0) return rc;
    keyrec *k = find_key(p->signed_pre_keys, p->n_signed, 1);
    if (!k) return SG_ERR_INVALID_KEY_ID;
    session_signed_pre_key *spk = NULL;
    rc = session_signed_pre_key_deserialize(&spk, signal_buffer_data(k->rec), signal_buffer_len(k->rec), p->ctx);
    if (rc < 0) return rc;
    rc = copy_pub(ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)), spk_out);
    if (rc == 0 && session_signed_pre_key_get_signature_len(spk) == 64)
        memcpy(sig, session_signed_pre_key_get_signature(spk), 64);
    else if (rc == 0) rc = SG_ERR_UNKNOWN;
    SIGNAL_UNREF(spk);
    if (rc < 0 || pre_key_id == 0) return rc;
    k = find_key(p->pre_keys, p->n_pre_keys, pre_key_id);
    if (!k) return SG_ERR_INVALID_KEY_ID;
    session_pre_key *pk = NULL;
    rc = session_pre_key_deserialize(&pk, signal_buffer_data(k->rec), signal_buffer_len(k->rec), p->ctx);
    if (rc < 0) return rc;
    rc = copy_pub(ec_key_pair_get_public(session_pre_key_get_key_pair(pk)), pre_key);
    SIGNAL_UNREF(pk);
    return rc;
}

/* Builds a session with (name, device) from its bundle. `pre_key` may be NULL. */
int shim_peer_process_bundle(shim_peer *p, const char *name, int32_t device, uint32_t registration_id,
                             const uint8_t identity[33], uint32_t spk_id, const uint8_t spk[33],
                             const uint8_t *sig, size_t sig_len, uint32_t pre_key_id, const uint8_t *pre_key) {
    signal_protocol_address addr = { name, strlen(name), device };
    ec_public_key *ik = NULL, *sk = NULL, *pk = NULL;
    session_pre_key_bundle *bundle = NULL;
    session_builder *builder = NULL;
    int rc = curve_decode_point(&ik, identity, 33, p->ctx);
    if (rc == 0) rc = curve_decode_point(&sk, spk, 33, p->ctx);
    if (rc == 0 && pre_key) rc = curve_decode_point(&pk, pre_key, 33, p->ctx);
    if (rc == 0) rc = session_pre_key_bundle_create(&bundle, registration_id, device, pre_key ? pre_key_id : 0, pk,
                                                    spk_id, sk, sig, sig_len, ik);
    if (rc == 0) rc = session_builder_create(&builder, p->store, &addr, p->ctx);
    if (rc == 0) { session_builder_set_version(builder, SHIM_VERSION); rc = session_builder_process_pre_key_bundle(builder, bundle); }
    if (builder) session_builder_free(builder);
    SIGNAL_UNREF(bundle); SIGNAL_UNREF(ik); SIGNAL_UNREF(sk); SIGNAL_UNREF(pk);
    return rc;
}

/* Encrypts for (name, device). Writes the serialised message to out (capacity *out_len, set to
 * the length), and *is_pre_key. */
int shim_peer_encrypt(shim_peer *p, const char *name, int32_t device, const uint8_t *pt, size_t pt_len,
                      uint8_t *out, size_t *out_len, int *is_pre_key) {
    signal_protocol_address addr = { name, strlen(name), device };
    session_cipher *cipher = NULL;
    ciphertext_message *msg = NULL;
    int rc = session_cipher_create(&cipher, p->store, &addr, p->ctx);
    if (rc == 0) { session_cipher_set_version(cipher, SHIM_VERSION); rc = session_cipher_encrypt(cipher, pt, pt_len, &msg); }
    if (rc == 0) {
        signal_buffer *b = ciphertext_message_get_serialized(msg);
        *is_pre_key = ciphertext_message_get_type(msg) == CIPHERTEXT_PREKEY_TYPE;
        if (signal_buffer_len(b) > *out_len) rc = SG_ERR_NOMEM;
        else { memcpy(out, signal_buffer_data(b), signal_buffer_len(b)); *out_len = signal_buffer_len(b); }
    }
    SIGNAL_UNREF(msg);
    if (cipher) session_cipher_free(cipher);
    return rc;
}

/* Decrypts a message from (name, device). */
int shim_peer_decrypt(shim_peer *p, const char *name, int32_t device, const uint8_t *ct, size_t ct_len,
                      int is_pre_key, uint8_t *out, size_t *out_len) {
    signal_protocol_address addr = { name, strlen(name), device };
    session_cipher *cipher = NULL;
    signal_buffer *pt = NULL;
    int rc = session_cipher_create(&cipher, p->store, &addr, p->ctx);
    if (rc == 0) session_cipher_set_version(cipher, SHIM_VERSION);
    if (rc == 0 && is_pre_key) {
        pre_key_signal_message *m = NULL;
        rc = pre_key_signal_message_deserialize(&m, ct, ct_len, p->ctx);
        if (rc == 0) rc = session_cipher_decrypt_pre_key_signal_message(cipher, m, NULL, &pt);
        SIGNAL_UNREF(m);
    } else if (rc == 0) {
        signal_message *m = NULL;
        rc = signal_message_deserialize(&m, ct, ct_len, p->ctx);
        if (rc == 0) rc = session_cipher_decrypt_signal_message(cipher, m, NULL, &pt);
        SIGNAL_UNREF(m);
    }
    if (rc == 0) {
        if (signal_buffer_len(pt) > *out_len) rc = SG_ERR_NOMEM;
        else { memcpy(out, signal_buffer_data(pt), signal_buffer_len(pt)); *out_len = signal_buffer_len(pt); }
    }
    signal_buffer_free(pt);
    if (cipher) session_cipher_free(cipher);
    return rc;
}

/* ---- the OMEMO 0.3 message layer, as Dino builds it on libomemo-c ----
 * The payload is AES-128-GCM under a fresh key and 12-byte IV; key(16) || tag(16) is then
 * encrypted with the session of every recipient device. Used by the libomemo-c benchmark. */

static int gcm(int enc, const uint8_t key[16], const uint8_t iv[12], const uint8_t *in, size_t len,
               uint8_t *out, uint8_t tag[16]) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return SG_ERR_NOMEM;
    int n = 0, fin = 0;
    int ok = EVP_CipherInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL, enc) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) == 1
        && EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1;
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + n, &fin) == 1;
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : SG_ERR_UNKNOWN;
}

/* Encrypts one message for `n` devices of `name`: the payload (pt_len bytes) goes to `payload`,
 * the IV to `iv`, and the key message for devices[i] to keys + i * key_cap (length key_lens[i],
 * is_pre_key[i]). */
int shim_omemo_encrypt(shim_peer *p, const char *name, const int32_t *devices, size_t n,
                       const uint8_t *pt, size_t pt_len, uint8_t *payload, uint8_t iv[12],
                       uint8_t *keys, size_t key_cap, size_t *key_lens, int *is_pre_key) {
    uint8_t material[32];
    if (RAND_bytes(material, 16) != 1 || RAND_bytes(iv, 12) != 1) return SG_ERR_UNKNOWN;
    int rc = gcm(1, material, iv, pt, pt_len, payload, material + 16);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        key_lens[i] = key_cap;
        rc = shim_peer_encrypt(p, name, devices[i], material, sizeof material, keys + i * key_cap,
                               &key_lens[i], &is_pre_key[i]);
    }
    OPENSSL_cleanse(material, sizeof material);
    return rc;
}

/* Decrypts one message from (name, device): the key message, then the payload (len bytes, to
 * `out`). */
int shim_omemo_decrypt(shim_peer *p, const char *name, int32_t device, const uint8_t *key,
                       size_t key_len, int is_pre_key, const uint8_t iv[12], const uint8_t *payload,
                       size_t len, uint8_t *out) {
    uint8_t material[64];
    size_t material_len = sizeof material;
    int rc = shim_peer_decrypt(p, name, device, key, key_len, is_pre_key, material, &material_len);
    if (rc == 0 && material_len != 32) rc = SG_ERR_INVALID_MESSAGE;
    if (rc == 0) rc = gcm(0, material, iv, payload, len, out, material + 16);
    OPENSSL_cleanse(material, sizeof material);
    return rc;
}

/* XEdDSA signature by this device's identity key, as libomemo-c computes it. */
int shim_peer_sign(shim_peer *p, const uint8_t *msg, size_t len, uint8_t sig[64]) {
    signal_buffer *b = NULL;
    int rc = curve_calculate_signature(p->ctx, &b, ratchet_identity_key_pair_get_private(p->identity), msg, len);
    if (rc == 0 && signal_buffer_len(b) == 64) memcpy(sig, signal_buffer_data(b), 64);
    else if (rc == 0) rc = SG_ERR_UNKNOWN;
    signal_buffer_free(b);
    return rc;
}

/* Verifies an XEdDSA signature with a 33-byte public key: 1 valid, 0 invalid, <0 error. */
int shim_verify(shim_peer *p, const uint8_t key[33], const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len) {
    ec_public_key *k = NULL;
    int rc = curve_decode_point(&k, key, 33, p->ctx);
    if (rc < 0) return rc;
    rc = curve_verify_signature(k, msg, len, sig, sig_len);
    SIGNAL_UNREF(k);
    return rc;
}

void shim_peer_free(shim_peer *p) {
    if (!p) return;
    for (int i = 0; i < p->n_pre_keys; i++) signal_buffer_free(p->pre_keys[i].rec);
    for (int i = 0; i < p->n_signed; i++) signal_buffer_free(p->signed_pre_keys[i].rec);
    for (int i = 0; i < p->n_sessions; i++) signal_buffer_free(p->sessions[i].rec);
    SIGNAL_UNREF(p->identity);
    signal_protocol_store_context_destroy(p->store);
    signal_context_destroy(p->ctx);
    free(p);
}

// A real OpenID Connect provider for the sign-in tests (oidc-provider from npm, with its own
// development login pages: any password is accepted for the accounts below).
// node oidc-test-provider.mjs <port> <client_id> <client_secret> <redirect_uri>
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const ACCOUNTS = {
  "drc-wang": { name: "王五", department: "发展和改革委员会", title: "科员" },
  "stranger": { name: "无名", department: "某外地单位", title: "科员" },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  pkce: { required: () => false },
  claims: { openid: ["sub"], profile: ["name", "preferred_username", "department", "title"] },
  conformIdTokenClaims: false,
  cookies: { keys: ["approvals-test-cookie-key"] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, ...account };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // Consent is the city's business, not the test's: every scope asked for is granted.
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid profile");
    grant.addOIDCClaims(["name", "preferred_username", "department", "title"]);
    await grant.save();
    return grant;
  },
});
provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc-provider listening on ${port}`));

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { savedKey, signIn, signOut, whenSignedOut } from "./api.js";
import { ChainsPage } from "./chains.jsx";
import { DeliveryPage } from "./delivery.jsx";
import { MonitorPage } from "./monitor.jsx";
import { NewMonitorPage } from "./monitor_form.jsx";
import { MonitorsPage } from "./monitors.jsx";
import { useHash } from "./util.jsx";

function SignIn({ message }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
      if (!location.hash || location.hash === "#/") location.hash = "#/monitors";
      dispatchEvent(new Event("blockhook-signed-in"));
    } catch (refused) {
      setError(refused.message);
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>blockhook console</h1>
      {message && !error && <p class="notice error" role="alert">{message}</p>}
      <form onSubmit={submit} noValidate>
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" value={key} required
          aria-describedby={error ? "signin-error" : undefined}
          onInput={(e) => setKey(e.currentTarget.value)} />
        {error && <p id="signin-error" class="notice error" role="alert">{error}</p>}
        <button type="submit" disabled={busy || !key.trim()}>Sign in</button>
      </form>
      <p class="hint">The key stays in this browser tab only (session storage) and is sent to this blockhook's API.</p>
    </main>
  );
}

function route(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "chains") return { page: "chains" };
  if (parts[0] === "monitors" && parts[1] === "new") return { page: "new" };
  if (parts[0] === "monitors" && parts[1] && parts[2] === "deliveries" && parts[3]) {
    return { page: "delivery", monitorId: parts[1], deliveryId: parts[3] };
  }
  if (parts[0] === "monitors" && parts[1]) return { page: "monitor", monitorId: parts[1] };
  return { page: "monitors" };
}

function Console() {
  const hash = useHash();
  const where = route(hash);
  // The secret of a monitor just created, shown once on its page.
  const [secret, setSecret] = useState(null);
  useEffect(() => {
    const titles = { chains: "Chains", new: "New monitor", monitor: "Monitor", delivery: "Delivery", monitors: "Monitors" };
    document.title = `${titles[where.page]} · blockhook console`;
  }, [where.page]);
  let page;
  if (where.page === "chains") page = <ChainsPage />;
  else if (where.page === "new") page = <NewMonitorPage onCreated={setSecret} />;
  else if (where.page === "monitor") {
    page = <MonitorPage key={where.monitorId} id={where.monitorId}
      createdSecret={secret && secret.monitorId === where.monitorId ? secret : null}
      onSecretSeen={() => setSecret(null)} />;
  } else if (where.page === "delivery") {
    page = <DeliveryPage key={where.deliveryId} monitorId={where.monitorId} deliveryId={where.deliveryId} />;
  } else page = <MonitorsPage />;
  const current = (name) => (where.page === name || (name === "monitors" && where.page !== "chains") ? "page" : undefined);
  return (
    <>
      <header class="top">
        <span class="brand">blockhook</span>
        <nav aria-label="Main">
          <a href="#/monitors" aria-current={current("monitors")}>Monitors</a>
          <a href="#/chains" aria-current={current("chains")}>Chains</a>
        </nav>
        <button type="button" class="link" onClick={() => signOut("You signed out.")}>Sign out</button>
      </header>
      <main>{page}</main>
    </>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(Boolean(savedKey()));
  const [message, setMessage] = useState(null);
  useEffect(() => {
    whenSignedOut((why) => {
      setMessage(why);
      setSignedIn(false);
    });
    const signedInNow = () => {
      setMessage(null);
      setSignedIn(true);
    };
    addEventListener("blockhook-signed-in", signedInNow);
    return () => removeEventListener("blockhook-signed-in", signedInNow);
  }, []);
  return signedIn ? <Console /> : <SignIn message={message} />;
}

const root = document.getElementById("app");
root.textContent = ""; // the page's "Loading" line
render(<App />, root);

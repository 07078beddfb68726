// Entry point: pick the transport, then render the app (or say plainly why
// there is nothing to talk to).
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { chooseApi } from "./api/index";
import { ApiProvider } from "./state/api-context";
import { App } from "./App";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);
const choice = chooseApi();
root.render(
  <StrictMode>
    {choice.ok ? (
      <ApiProvider api={choice.api}>
        <App />
      </ApiProvider>
    ) : (
      <div className="fatal" role="alert">
        <h1>Hotplug Desk</h1>
        <p>{choice.message}</p>
      </div>
    )}
  </StrictMode>,
);

import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ChannelFrame, LiveClient, type SocketEvents, useChannel, useLiveState } from "./live";

interface Server {
  on: SocketEvents;
  sent: string[];
}

function fakeClient() {
  const servers: Server[] = [];
  const client = new LiveClient({
    url: () => "ws://test/api/ws",
    token: () => "tok",
    verify: async () => true,
    socket: (_url, _protocols, on) => {
      const server: Server = { on, sent: [] };
      servers.push(server);
      return {
        readyState: 1,
        send: (data: string) => server.sent.push(data),
        close: () => on.close(1000, ""),
      };
    },
    minDelayMs: 100,
    random: () => 0.9999,
  });
  return { client, servers };
}

function Probe({
  client,
  onFrame,
  history = false,
}: {
  client: LiveClient;
  onFrame: (f: ChannelFrame) => void;
  history?: boolean;
}) {
  const live = useChannel("jobs", { frame: onFrame, history }, client);
  const state = useLiveState(client);
  return (
    <p>
      <span data-testid="live">{live ? "live" : "polling"}</span>
      <span data-testid="state">{state}</span>
    </p>
  );
}

describe("useChannel", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("says whether the channel is live, through a drop and a reconnect", async () => {
    const { client, servers } = fakeClient();
    const frames: ChannelFrame[] = [];
    const view = render(<Probe client={client} onFrame={(f) => frames.push(f)} />);
    expect(screen.getByTestId("live").textContent).toBe("polling");
    await act(() => vi.advanceTimersByTimeAsync(0));
    const send = (server: Server, frame: object) =>
      act(() => server.on.message(JSON.stringify(frame)));
    const first = servers[0];
    send(first, { event: "connected", data: { user_id: 1, epoch: "e" } });
    expect(screen.getByTestId("state").textContent).toBe("open");
    send(first, { event: "subscribed", channel: "jobs", seq: 3, epoch: "e" });
    expect(screen.getByTestId("live").textContent).toBe("live");
    send(first, { channel: "jobs", seq: 4, event: "status", data: {}, ts: 1 });
    expect(frames.map((f) => f.seq)).toEqual([4]);

    act(() => first.on.close(1006, ""));
    expect(screen.getByTestId("live").textContent).toBe("polling");
    expect(screen.getByTestId("state").textContent).toBe("reconnecting");
    await act(() => vi.advanceTimersByTimeAsync(100));
    const second = servers[1];
    send(second, { event: "connected", data: { user_id: 1, epoch: "e" } });
    expect(JSON.parse(second.sent[0])).toEqual({
      action: "subscribe",
      channel: "jobs",
      after: 4,
      epoch: "e",
    });
    send(second, { event: "subscribed", channel: "jobs", seq: 4, epoch: "e" });
    expect(screen.getByTestId("live").textContent).toBe("live");

    view.unmount();
    await act(() => vi.advanceTimersByTimeAsync(5000));
    expect(JSON.parse(second.sent.at(-1) ?? "{}")).toEqual({
      action: "unsubscribe",
      channel: "jobs",
    });
  });

  it("passes the handler's history on: the replay reaches it", async () => {
    const { client, servers } = fakeClient();
    const frames: ChannelFrame[] = [];
    render(<Probe client={client} onFrame={(f) => frames.push(f)} history />);
    await act(() => vi.advanceTimersByTimeAsync(0));
    const server = servers[0];
    const send = (frame: object) => act(() => server.on.message(JSON.stringify(frame)));
    send({ event: "connected", data: { user_id: 1, epoch: "e" } });
    expect(JSON.parse(server.sent[0])).toEqual({ action: "subscribe", channel: "jobs", after: 0 });
    send({ event: "subscribed", channel: "jobs", seq: 1, epoch: "e" });
    send({ channel: "jobs", seq: 1, event: "status", data: {}, ts: 1 });
    send({ channel: "jobs", seq: 2, event: "status", data: {}, ts: 2 });
    expect(frames.map((f) => [f.seq, f.replayed ?? false])).toEqual([
      [1, true],
      [2, false],
    ]);
  });
});

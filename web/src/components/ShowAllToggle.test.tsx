import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { ShowAllToggle } from "./ui";

function Harness({ total }: { total: number }) {
  const [all, setAll] = useState(false);
  return (
    <>
      <span data-testid="state">{all ? "all" : "cut"}</span>
      <ShowAllToggle total={total} shown={10} all={all} onToggle={setAll} />
    </>
  );
}

describe("ShowAllToggle", () => {
  it("is absent when every row fits", () => {
    render(<Harness total={10} />);
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("shows all rows, then fewer", () => {
    render(<Harness total={1234} />);
    fireEvent.click(screen.getByRole("button", { name: "Show all 1,234" }));
    expect(screen.getByTestId("state").textContent).toBe("all");
    fireEvent.click(screen.getByRole("button", { name: "Show fewer" }));
    expect(screen.getByTestId("state").textContent).toBe("cut");
  });
});

import { useEffect, useState } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { getSession, onSession, type Session } from "./api/auth";
import { Layout } from "./components/Layout";
import { ComparePage } from "./pages/ComparePage";
import { DataPage } from "./pages/DataPage";
import { EditorPage } from "./pages/EditorPage";
import { JobsPage } from "./pages/JobsPage";
import { LoginPage } from "./pages/LoginPage";
import { ResearchItemPage, ResearchPage } from "./pages/ResearchPage";
import { ResultPage } from "./pages/ResultPage";
import { StrategiesPage } from "./pages/StrategiesPage";
import { SystemPage } from "./pages/SystemPage";

function useSession(): Session | null {
  const [session, setSession] = useState(getSession);
  useEffect(() => onSession(setSession), []);
  return session;
}

function RequireLogin({ session }: { session: Session | null }) {
  const location = useLocation();
  if (!session) {
    const next = location.pathname + location.search;
    return (
      <Navigate
        to={`/login${next && next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`}
        replace
      />
    );
  }
  return <Layout />;
}

export function App() {
  const session = useSession();
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/login" element={<LoginPage session={session} />} />
        <Route element={<RequireLogin session={session} />}>
          <Route path="/" element={<Navigate to="/strategies" replace />} />
          <Route path="/strategies" element={<StrategiesPage />} />
          <Route path="/strategies/:id" element={<EditorPage />} />
          <Route path="/jobs" element={<JobsPage />} />
          <Route path="/jobs/:id" element={<ResultPage />} />
          <Route path="/compare" element={<ComparePage />} />
          <Route path="/research" element={<ResearchPage />} />
          <Route path="/research/:id" element={<ResearchItemPage />} />
          <Route path="/data" element={<DataPage />} />
          <Route path="/data/:id" element={<DataPage />} />
          <Route path="/system" element={<SystemPage />} />
          <Route path="*" element={<Navigate to="/strategies" replace />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}

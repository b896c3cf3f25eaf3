// The officer's desk: dropping files, starting a run and following it. No framework, no CDN.
"use strict";

// What the page says when the server does not answer: the command window was closed, most often.
const OFFLINE = "Trang không kết nối được với chương trình: cửa sổ lệnh pipeline serve có còn mở không? " +
  "Mở lại bằng lệnh đó rồi thử lại.";

function line(list, text) {
  const item = document.createElement("li");
  item.textContent = text;
  list.appendChild(item);
}

async function upload(files) {
  const drop = document.getElementById("drop");
  const list = document.getElementById("uploads");
  if (!drop || !files.length) return;
  const body = new FormData();
  for (const file of files) body.append("tep", file, file.name);
  const answer = await fetch(drop.dataset.url, { method: "POST", body, credentials: "same-origin" }).catch(() => null);
  if (!answer) {
    line(list, "Chưa gửi được tệp. " + OFFLINE);
    return;
  }
  const result = await answer.json().catch(() => ({ saved: [], refused: ["không gửi được tệp"] }));
  for (const name of result.saved || []) line(list, "Đã nhận: " + name);
  for (const why of result.refused || []) line(list, "Không nhận: " + why);
}

function follow(button) {
  const state = document.getElementById("run-state");
  const bar = document.getElementById("run-bar");
  const files = document.getElementById("run-files");
  const source = new EventSource(button.dataset.progress);
  bar.hidden = false;
  source.onmessage = (event) => {
    const step = JSON.parse(event.data);
    if (step.kind === "start") {
      bar.max = Math.max(step.total, 1);
      bar.value = 0;
      state.textContent = step.total ? "Đang đọc " + step.total + " tệp mới…" : "Không có tệp mới; đang cập nhật kết quả…";
    } else if (step.kind === "file") {
      bar.value += 1;
      line(files, step.name);
    } else if (step.kind === "done") {
      source.close();
      bar.value = bar.max;
      const counts = Object.entries(step.counts).map(([k, v]) => k + ": " + v).join(" · ");
      state.textContent = step.unchanged
        ? "Xong. Không có gì mới từ lần chạy trước: kết quả giữ nguyên. " + counts
        : "Xong. " + counts;
      button.disabled = false;
      // The page again, with the run's results (and without the note that the text was saved).
      const address = new URL(window.location.href);
      address.searchParams.delete("da_luu");
      window.setTimeout(() => window.location.replace(address.href), 1200);
    } else if (step.kind === "error") {
      source.close();
      state.textContent = step.message;
      button.disabled = false;
    }
  };
  source.onerror = () => {
    source.close();
    button.disabled = false;
    state.textContent = "Mất kết nối giữa chừng. " + OFFLINE;
  };
}

async function save(form) {
  // The officer's text goes with the run: saved first, or the page that loads after the run
  // would show the text as it was before and what was typed would be lost.
  const body = new URLSearchParams(new FormData(form));
  const answer = await fetch(form.action, { method: "POST", body, credentials: "same-origin" }).catch(() => null);
  if (!answer) return "Chưa lưu được nội dung đã viết: đừng đóng trang này kẻo mất chữ. " + OFFLINE;
  return answer.ok ? "" : "Chưa lưu được nội dung đã viết; bấm Lưu rồi chạy lại.";
}

async function run(button) {
  const state = document.getElementById("run-state");
  const form = button.closest("form");
  button.disabled = true;
  const unsaved = form ? await save(form) : "";
  if (unsaved) {
    state.textContent = unsaved;
    button.disabled = false;
    return;
  }
  const answer = await fetch(button.dataset.url, { method: "POST", credentials: "same-origin" }).catch(() => null);
  if (!answer) {
    state.textContent = OFFLINE;
    button.disabled = false;
    return;
  }
  if (answer.status === 409) {
    const result = await answer.json();
    state.textContent = result.message;
    button.disabled = false;
    return;
  }
  follow(button);
}

document.addEventListener("DOMContentLoaded", () => {
  const drop = document.getElementById("drop");
  const pick = document.getElementById("pick");
  const button = document.getElementById("run");
  if (drop) {
    drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      upload(event.dataTransfer.files);
    });
  }
  if (pick) pick.addEventListener("change", () => upload(pick.files));
  if (button) {
    button.addEventListener("click", () => run(button));
    if (button.disabled) follow(button);
  }
});

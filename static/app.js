// Doorstep's only script: the two Bootstrap behaviours its pages use, on Bootstrap's own
// markup, the recovery code's Copy button and the focus on a form's first error, without
// Bootstrap's 80 KB bundle (which cost the window's start-up more than anything else left
// on the page: docs/startup.md).
document.addEventListener("click", (event) => {
  // The navbar's toggler shows and hides the links on narrow windows.
  const toggler = event.target.closest('[data-bs-toggle="collapse"]');
  if (toggler) {
    const menu = document.querySelector(toggler.dataset.bsTarget);
    const open = menu.classList.toggle("show");
    toggler.setAttribute("aria-expanded", String(open));
    return;
  }
  // An alert's close button removes the alert.
  const closer = event.target.closest('[data-bs-dismiss="alert"]');
  if (closer) {
    closer.closest(".alert").remove();
    return;
  }
  // A Copy button puts its target's text on the clipboard and says so.
  const copier = event.target.closest("[data-copy-target]");
  if (copier) {
    const text = document.querySelector(copier.dataset.copyTarget).textContent;
    navigator.clipboard.writeText(text).then(() => {
      copier.textContent = copier.dataset.copiedText;
    });
  }
});

// "Forgot your password?" takes along the email typed so far, so it need not be typed twice.
document.addEventListener("input", (event) => {
  if (event.target.id !== "email") {
    return;
  }
  for (const link of document.querySelectorAll("a[data-carries-email]")) {
    const url = new URL(link.href);
    const email = event.target.value.trim();
    if (email) {
      url.searchParams.set("email", email);
    } else {
      url.searchParams.delete("email");
    }
    link.href = url;
  }
});

// A form sent back with errors: the first field to fix gets the focus, so a keyboard or
// screen-reader user lands on it with its error read out (templates/_forms.html ties them).
// A page without errors keeps its autofocus field, if any.
document.querySelector('[aria-invalid="true"]')?.focus();

document.getElementById("clock").textContent = "Loaded at " + new Date().toISOString();

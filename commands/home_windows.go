package commands

// homeVar names the home directory the default store is in: the
// original's %USERPROFILE%\.docker\machine on Windows, whatever HOME says
// (Git Bash and MSYS2 export a HOME of their own).
const homeVar = "USERPROFILE"
